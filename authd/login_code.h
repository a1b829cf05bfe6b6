/* Login codes: what a forum member types in the game console (`login MOH-7K2Q9XWM4D1P`).
 *
 * A code is "MOH-" and 12 Crockford base32 symbols: 60 bits, 16 characters (the forum's user_code column
 * holds 16). It is derived, not stored: HMAC-SHA256(AUTHD_TOKEN_KEY, row id) names the code of a login_tokens
 * row, so the forum can be shown a member's code again on every visit.
 *
 * The row keeps a MAC of the code under the same key (login_code_mac), not a bare hash: 60 bits are few enough
 * that a bare SHA-256 of every code in a copied database can be searched exhaustively (2^60 hashes is a GPU
 * hundred GPUs' week), while the MAC cannot be checked at all without AUTHD_TOKEN_KEY. A second key would buy
 * nothing: whoever holds AUTHD_TOKEN_KEY and the database can derive every code from the row ids anyway. The
 * two uses of the key are kept apart by distinct labels in the MAC'd message (domain separation). */
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

/* The HMAC-SHA256 hex that login_tokens.token_hash holds for a canonical code (hash_scheme 'hmac-sha256'). */
void login_code_mac(const uint8_t key[32], const char *code, char out[65]);

/* The bare SHA-256 hex that rows made before schema 0004 hold (hash_scheme 'sha256'): only for recognising
 * those rows until code_upgrade.c has rewritten them. */
void login_code_legacy_hash(const char *code, char out[65]);

#endif
