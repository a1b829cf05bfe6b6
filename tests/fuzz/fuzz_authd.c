/* Fuzz target: what authd reads from a game server's or the forum's body (authd/settings.c: JSON or a form,
 * then member ids, text fields, flags) and the login code a player typed (authd/login_code.c). Whatever the
 * bytes, the body reader gives an object or NULL, and a code that normalises is canonical: normalising it
 * again gives itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "authd.h"
#include "login_code.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *o = authd_body_parse((const char *)data, size);
    if (o) {
        if (!cJSON_IsObject(o))
            abort();
        char buf[64];
        (void)authd_member_id(cJSON_GetObjectItemCaseSensitive(o, "forum_user_id"));
        (void)authd_truthy(cJSON_GetObjectItemCaseSensitive(o, "regenerate"));
        const char *t = authd_text(o, "token", buf, sizeof buf);
        char code[LOGIN_CODE_LEN + 1], again[LOGIN_CODE_LEN + 1];
        if (strlen(t) < 64 && login_code_normalize(t, code) == 0) {
            if (login_code_normalize(code, again) != 0 || strcmp(code, again) != 0)
                abort();
        }
        cJSON_Delete(o);
    }
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    char code[LOGIN_CODE_LEN + 1], again[LOGIN_CODE_LEN + 1];
    if (login_code_normalize(s, code) == 0 &&
        (strlen(code) != LOGIN_CODE_LEN || login_code_normalize(code, again) != 0 || strcmp(code, again) != 0))
        abort();
    free(s);
    return 0;
}
