/* Login codes: what a forum member types in the game console (`login MOH-7K2Q9XWM4D1P`).
 *
 * A code is "MOH-" and 12 Crockford base32 symbols: 60 bits, 16 characters (the forum's user_code column
 * holds 16). It is derived, not stored: HMAC-SHA256(AUTHD_TOKEN_KEY, row id) names the code of a login_tokens
 * row, and the row keeps only the code's SHA-256. So the forum can be shown a member's code again on every
 * visit, while a copy of the database alone reveals no code. */
#ifndef MOHSTATS_LOGIN_CODE_H
#define MOHSTATS_LOGIN_CODE_H

#include <stddef.h>
#include <stdint.h>

#define LOGIN_CODE_SYMBOLS 12
#define LOGIN_CODE_LEN (4 + LOGIN_CODE_SYMBOLS) /* "MOH-" + symbols */

/* The code of the row whose id (a UUID) is given, as text (LOGIN_CODE_LEN + 1 bytes). */
void login_code_derive(const uint8_t key[32], const uint8_t id[16], char out[LOGIN_CODE_LEN + 1]);

/* What a player typed, in canonical form: case, spaces, dashes and an optional "MOH" prefix do not matter,
 * and the look-alikes O and I/L read as 0 and 1. Returns 0, or -1 when it cannot be a code. */
int login_code_normalize(const char *typed, char out[LOGIN_CODE_LEN + 1]);

/* The SHA-256 hex that login_tokens.token_hash holds for a canonical code. */
void login_code_hash(const char *code, char out[65]);

#endif
