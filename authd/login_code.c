/* Login codes: derivation, normalisation and the keyed MAC that is stored. */
#include "login_code.h"

#include <ctype.h>
#include <string.h>

#include "random.h"
#include "sha256.h"

/* Domain separation: the key derives codes from row ids and MACs codes for storage; the labels (which differ
 * before their NULs) keep the two message sets disjoint. */
static const char derive_label[] = "mohstats login code v1";
static const char mac_label[] = "mohstats login code hash v1";

void login_code_derive(const uint8_t key[32], const uint8_t id[16], char out[LOGIN_CODE_LEN + 1])
{
    uint8_t msg[sizeof derive_label + 16], mac[32];
    memcpy(msg, derive_label, sizeof derive_label); /* with its NUL, so label and id cannot run together */
    memcpy(msg + sizeof derive_label, id, 16);
    hmac_sha256(key, 32, msg, sizeof msg, mac);
    char b32[16]; /* 8 bytes -> 13 symbols; the first 12 are the first 60 bits */
    base32_encode(mac, 8, b32);
    memcpy(out, "MOH-", 4);
    for (int i = 0; i < LOGIN_CODE_SYMBOLS; i++)
        out[4 + i] = (char)toupper((unsigned char)b32[i]);
    out[LOGIN_CODE_LEN] = '\0';
}

/* The canonical symbol for c, or 0 when c is not one (Crockford: U is excluded, O/I/L are read as digits). */
static char symbol(unsigned char c)
{
    c = (unsigned char)toupper(c);
    if (c == 'O')
        return '0';
    if (c == 'I' || c == 'L')
        return '1';
    if (isdigit(c) || (c >= 'A' && c <= 'Z' && c != 'U'))
        return (char)c;
    return 0;
}

int login_code_normalize(const char *typed, char out[LOGIN_CODE_LEN + 1])
{
    const char *p = typed;
    while (*p == ' ' || *p == '\t')
        p++;
    /* "MOH" is a prefix only when 12 symbols follow it: M, O and H are symbols too. */
    char sym[LOGIN_CODE_SYMBOLS + 3 + 1];
    size_t n = 0;
    for (; *p; p++) {
        if (*p == ' ' || *p == '\t' || *p == '-')
            continue;
        char s = symbol((unsigned char)*p);
        if (!s || n == sizeof sym - 1)
            return -1;
        sym[n++] = s;
    }
    const char *start = sym;
    if (n == LOGIN_CODE_SYMBOLS + 3 && memcmp(sym, "M0H", 3) == 0) /* MOH with its O read as 0 */
        start += 3, n -= 3;
    if (n != LOGIN_CODE_SYMBOLS)
        return -1;
    memcpy(out, "MOH-", 4);
    memcpy(out + 4, start, LOGIN_CODE_SYMBOLS);
    out[LOGIN_CODE_LEN] = '\0';
    return 0;
}

void login_code_mac(const uint8_t key[32], const char *code, char out[65])
{
    uint8_t msg[sizeof mac_label + LOGIN_CODE_LEN], mac[32];
    size_t n = strnlen(code, LOGIN_CODE_LEN);
    memcpy(msg, mac_label, sizeof mac_label); /* with its NUL, as in login_code_derive */
    memcpy(msg + sizeof mac_label, code, n);
    hmac_sha256(key, 32, msg, sizeof mac_label + n, mac);
    hex_encode(mac, sizeof mac, out);
}

void login_code_legacy_hash(const char *code, char out[65])
{
    sha256_hex(code, strlen(code), out);
}
