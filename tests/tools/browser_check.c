/* browser_check: drives headless Chromium through chromedriver (the W3C WebDriver protocol: JSON over HTTP) over the
 * dashboard's pages on a stack with data, and checks that each page gets ready without console errors and shows the
 * numbers the API answers. Saves a screenshot of each page and prints its time to interactive.
 *
 * Usage: browser_check --driver http://127.0.0.1:PORT --site FRONT_DOOR --out DIR [--max-tti-ms MS]
 *
 * A page is interactive when every section has loaded or said why not: web/app.js's page() then sets
 * data-ready on <html> to performance.now(), which is the time from the start of navigation. Each page is visited
 * twice (see visit()). Output: one line per
 * check, "ok - ..." or "FAIL - ...", one line per page for scripts, 'tti {"page": ..., "first_visit_ms": ...,
 * "cached_ms": ..., "bound_ms": ...}', then "browser_check: N passed, M failed"; exit status 1 if any failed. */
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "tool_check.h"

typedef struct {
    char *data;
    size_t len;
} buf;

static const char *driver, *site, *outdir;
static long max_tti_ms = 1000;
static char session[128];

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    buf *b = arg;
    char *d = realloc(b->data, b->len + size * n + 1);
    if (!d)
        return 0;
    memcpy(d + b->len, p, size * n);
    b->data = d;
    b->len += size * n;
    b->data[b->len] = '\0';
    return size * n;
}

/* An HTTP request; the parsed JSON answer (NULL when it is not JSON or nothing answered). */
static cJSON *http_json(const char *method, const char *url, const cJSON *body, long *status)
{
    CURL *c = curl_easy_init();
    buf b = {0};
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json; charset=utf-8");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (text)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    *status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    cJSON *j = b.data ? cJSON_Parse(b.data) : NULL;
    free(b.data);
    free(text);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return j;
}

/* A WebDriver command on the session (path after /session/ID); its "value", owned by *root. */
static cJSON *wd(const char *method, const char *path, cJSON *body, cJSON **root)
{
    char url[1024];
    snprintf(url, sizeof url, "%s/session/%s%s", driver, session, path);
    long status;
    *root = http_json(method, url, body, &status);
    cJSON_Delete(body);
    cJSON *v = cJSON_GetObjectItem(*root, "value");
    if (status != 200) {
        const char *msg = cJSON_GetStringValue(cJSON_GetObjectItem(v, "message"));
        fprintf(stderr, "browser_check: WebDriver %s %s: HTTP %ld: %.300s\n", method, path, status, msg ? msg : "");
        return NULL;
    }
    return v;
}

/* Run a script in the page; its result as a string ("" when null), malloc'd. */
static char *page_eval(const char *script)
{
    cJSON *body = cJSON_CreateObject(), *root;
    cJSON_AddStringToObject(body, "script", script);
    cJSON_AddItemToObject(body, "args", cJSON_CreateArray());
    cJSON *v = wd("POST", "/execute/sync", body, &root);
    char *out;
    if (cJSON_IsString(v))
        out = strdup(v->valuestring);
    else if (cJSON_IsNumber(v)) {
        char n[64];
        snprintf(n, sizeof n, "%.17g", v->valuedouble);
        out = strdup(n);
    } else
        out = strdup("");
    cJSON_Delete(root);
    return out;
}

/* An API answer (GET SITE/api/v1 + path) or NULL. */
static cJSON *api(const char *path)
{
    char url[1024];
    snprintf(url, sizeof url, "%s/api/v1%s", site, path);
    long status;
    cJSON *j = http_json("GET", url, NULL, &status);
    if (status != 200) {
        fprintf(stderr, "browser_check: GET %s: HTTP %ld\n", url, status);
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

/* A number as the pages show it (toLocaleString en-US, at most 2 decimals) back to a double; NAN-safe. */
static double shown_number(const char *text)
{
    char digits[64];
    size_t n = 0;
    for (const char *p = text; *p && n + 1 < sizeof digits; p++)
        if ((*p >= '0' && *p <= '9') || *p == '.' || *p == '-')
            digits[n++] = *p;
    digits[n] = '\0';
    return n ? strtod(digits, NULL) : -1e300;
}

/* The text of the first element matching a CSS selector ("" when none). */
static char *text_of(const char *selector)
{
    char script[512];
    snprintf(script, sizeof script, "var e = document.querySelector(%s); return e ? e.textContent.trim() : '';",
             selector);
    return page_eval(script);
}

/* Compare what the page shows at selector with the API's number. */
static void check_number(const char *page, const char *what, const char *selector, double api_value)
{
    char *t = text_of(selector);
    double shown = shown_number(t);
    check(shown > api_value - 0.006 && shown < api_value + 0.006, "%s shows %s = %g as the API says (page: '%s')", page,
          what, api_value, t);
    free(t);
}

/* Decode base64 in place; the length of the bytes. */
static size_t base64_decode(char *s)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t out = 0;
    unsigned acc = 0;
    int bits = 0;
    for (const char *p = s; *p && *p != '='; p++) {
        const char *k = strchr(alphabet, *p);
        if (!k)
            continue;
        acc = (acc << 6) | (unsigned)(k - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            s[out++] = (char)((acc >> bits) & 0xff);
        }
    }
    return out;
}

/* Save the page's screenshot as OUT/NAME.png. */
static void screenshot(const char *name)
{
    cJSON *root;
    cJSON *v = wd("GET", "/screenshot", NULL, &root);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.png", outdir, name);
    bool ok = false;
    if (cJSON_IsString(v)) {
        size_t n = base64_decode(v->valuestring);
        FILE *f = fopen(path, "wb");
        ok = f && fwrite(v->valuestring, 1, n, f) == n;
        if (f)
            ok = fclose(f) == 0 && ok;
    }
    check(ok, "%s: screenshot saved to %s", name, path);
    cJSON_Delete(root);
}

/* The browser's console messages of level SEVERE since the last call (errors, failed loads), one per line. */
static char *console_errors(void)
{
    cJSON *body = cJSON_CreateObject(), *root;
    cJSON_AddStringToObject(body, "type", "browser");
    cJSON *v = wd("POST", "/se/log", body, &root);
    size_t cap = 1, len = 0;
    char *out = calloc(1, 1);
    const cJSON *e;
    cJSON_ArrayForEach(e, v)
    {
        const char *level = cJSON_GetStringValue(cJSON_GetObjectItem(e, "level"));
        const char *msg = cJSON_GetStringValue(cJSON_GetObjectItem(e, "message"));
        if (!level || strcmp(level, "SEVERE") != 0 || !msg)
            continue;
        size_t add = strlen(msg) + 3;
        out = realloc(out, cap += add);
        len += (size_t)snprintf(out + len, add + 1, "\n  %s", msg);
    }
    cJSON_Delete(root);
    return out;
}

/* Navigate to url and wait until the page says it is ready; its time to interactive in ms, or -1. */
static long load_page(const char *url)
{
    cJSON *body = cJSON_CreateObject(), *root;
    cJSON_AddStringToObject(body, "url", url);
    wd("POST", "/url", body, &root);
    cJSON_Delete(root);
    char *ready = NULL;
    for (int i = 0; i < 300; i++) {
        free(ready);
        ready = page_eval("return document.documentElement.dataset.ready || null;");
        if (*ready)
            break;
        usleep(50000);
    }
    long tti = *ready ? strtol(ready, NULL, 10) : -1;
    free(ready);
    return tti;
}

/* Open SITE/path twice, wait for it to be ready, check the console and save a screenshot. false if it never got
 * ready. The first visit finds the API's answers uncomputed (queryd asks ClickHouse); the second is a visitor's
 * usual case, the answers cached (QUERY_CACHE_TTL_S) and the static files revalidated: the second must be
 * interactive within max_tti_ms. The first waits for ClickHouse, whose time on a machine shared with benchmarks
 * varies threefold (1.0-3.1 s for the player page's eight queries at load averages of 4-12 on 2 cores): it gets five
 * times that, which still catches a page that waits for a timeout. Both are printed.
 * missing: the page is about something that does not exist: it must say so, and the API's 404 it logs is expected. */
static bool visit(const char *name, const char *path, bool missing)
{
    char url[1024];
    snprintf(url, sizeof url, "%s/%s", site, path);
    long cold = load_page(url);
    long warm = cold >= 0 ? load_page(url) : -1;
    bool ok = warm >= 0;
    check(ok, "%s (%s) gets ready: time to interactive %ld ms (first visit %ld ms)", name, path, warm, cold);
    /* One line per page for scripts that collect the figures (-1: never ready). */
    printf("tti {\"page\": \"%s\", \"first_visit_ms\": %ld, \"cached_ms\": %ld, \"bound_ms\": %ld}\n", name, cold, warm,
           max_tti_ms);
    if (ok && missing) {
        /* A 404 is cached for QUERY_NOT_FOUND_TTL_MS only (0.5 s): both visits ask ClickHouse. */
        check(warm <= 5 * max_tti_ms, "%s: interactive within %ld ms, uncached (%ld ms)", name, 5 * max_tti_ms, warm);
    } else if (ok) {
        check(warm <= max_tti_ms, "%s: interactive within %ld ms (%ld ms)", name, max_tti_ms, warm);
        check(cold <= 5 * max_tti_ms, "%s: the first visit interactive within %ld ms (%ld ms)", name, 5 * max_tti_ms,
              cold);
    }
    char *errors = console_errors();
    if (missing) {
        /* Only the API's 404 may be in the console. */
        char *e = errors, *line;
        bool only_404 = true;
        while ((line = strsep(&e, "\n")))
            if (*line && !strstr(line, "404"))
                only_404 = false;
        check(only_404, "%s: no console errors but the API's 404", name);
    } else {
        check(*errors == '\0', "%s: no console errors%s", name, errors);
    }
    free(errors);
    char *msgs =
        page_eval("return Array.from(document.querySelectorAll('.msg.error')).map(e => e.textContent).join(' | ');");
    if (missing)
        check(strstr(msgs, "Not found") != NULL, "%s: says what is missing (page: '%s')", name, msgs);
    else
        check(*msgs == '\0', "%s: no section says it could not load%s%s", name, *msgs ? ": " : "", msgs);
    free(msgs);
    screenshot(name);
    return ok;
}

static void usage(void)
{
    fprintf(stderr, "usage: browser_check --driver URL --site FRONT_DOOR --out DIR [--max-tti-ms MS]\n");
    exit(2);
}

/* Start a headless Chromium session; false (said why) if chromedriver refuses. */
static bool session_start(void)
{
    cJSON *caps = cJSON_Parse("{\"capabilities\": {\"alwaysMatch\": {\"browserName\": \"chrome\","
                              " \"goog:loggingPrefs\": {\"browser\": \"ALL\"},"
                              " \"goog:chromeOptions\": {\"args\": [\"--headless=new\", \"--no-sandbox\","
                              " \"--disable-gpu\", \"--disable-dev-shm-usage\", \"--window-size=1200,1600\"]}}}}");
    const char *bin = getenv("CHROMIUM_BINARY");
    cJSON *opts = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(caps, "capabilities"), "alwaysMatch"),
                                      "goog:chromeOptions");
    cJSON_AddStringToObject(opts, "binary", bin && *bin ? bin : "/usr/bin/chromium");
    char url[1024];
    snprintf(url, sizeof url, "%s/session", driver);
    long status;
    cJSON *root = http_json("POST", url, caps, &status);
    cJSON_Delete(caps);
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "value"), "sessionId"));
    if (status != 200 || !id) {
        char *text = root ? cJSON_PrintUnformatted(root) : NULL;
        fprintf(stderr, "browser_check: chromedriver did not start a session (HTTP %ld): %.500s\n", status,
                text ? text : "no answer");
        free(text);
        cJSON_Delete(root);
        return false;
    }
    snprintf(session, sizeof session, "%s", id);
    cJSON_Delete(root);
    return true;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"driver", required_argument, NULL, 'd'},
        {"site", required_argument, NULL, 's'},
        {"out", required_argument, NULL, 'o'},
        {"max-tti-ms", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            driver = optarg;
            break;
        case 's':
            site = optarg;
            break;
        case 'o':
            outdir = optarg;
            break;
        case 't':
            max_tti_ms = strtol(optarg, NULL, 10);
            break;
        default:
            usage();
        }
    }
    if (!driver || !site || !outdir || optind != argc)
        usage();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!session_start())
        return 1;

    /* The known data set: whatever the stack holds now (the demo has stopped), as the API answers it. The pages
     * read the same cached answers, so both sides see the same numbers. */
    cJSON *global = api("/stats/global");
    cJSON *board = api("/stats/leaderboard/global?stat=kills&period=all&limit=25&offset=0");
    cJSON *matches = api("/stats/matches?limit=8");
    const cJSON *top = cJSON_GetArrayItem(cJSON_GetObjectItem(board, "players"), 0);
    const char *guid = cJSON_GetStringValue(cJSON_GetObjectItem(top, "player_id"));
    /* The latest match with kills: the heat map below needs positions, and the demo may have begun a match that
     * had none yet when it stopped. */
    const char *match = NULL;
    const cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(matches, "list"))
    {
        if (cJSON_GetNumberValue(cJSON_GetObjectItem(item, "kills")) > 0) {
            match = cJSON_GetStringValue(cJSON_GetObjectItem(item, "match_id"));
            break;
        }
    }
    check(global && guid && match, "the API answers the data set (global totals, a top player, a match with kills)");
    if (!global || !guid || !match)
        goto done;

    if (visit("home", "", false)) {
        check_number("home", "total kills", "'[data-stat=total_kills]'",
                     cJSON_GetNumberValue(cJSON_GetObjectItem(global, "total_kills")));
        check_number("home", "total matches", "'[data-stat=total_matches]'",
                     cJSON_GetNumberValue(cJSON_GetObjectItem(global, "total_matches")));
    }
    if (visit("leaderboards", "leaderboards.html?stat=kills&period=all", false)) {
        check_number("leaderboards", "the first player's kills", "'#board tbody tr td:nth-child(3)'",
                     cJSON_GetNumberValue(cJSON_GetObjectItem(top, "value")));
        char *name = text_of("'#board tbody tr td:nth-child(2)'");
        const char *want = cJSON_GetStringValue(cJSON_GetObjectItem(top, "name"));
        check(want && strcmp(name, want) == 0, "leaderboards: the first player is %s (page: '%s')", want, name);
        free(name);
    }
    char path[512];
    snprintf(path, sizeof path, "/stats/player/%s", guid);
    cJSON *player = api(path);
    snprintf(path, sizeof path, "player.html?guid=%s", guid);
    if (visit("player", path, false) && player) {
        check_number("player", "kills", "'[data-stat=kills]'",
                     cJSON_GetNumberValue(cJSON_GetObjectItem(player, "kills")));
        check_number("player", "deaths", "'[data-stat=deaths]'",
                     cJSON_GetNumberValue(cJSON_GetObjectItem(player, "deaths")));
        char *title = text_of("'#title'");
        const char *want = cJSON_GetStringValue(cJSON_GetObjectItem(player, "name"));
        check(want && strcmp(title, want) == 0, "player: the title is the player's name %s (page: '%s')", want, title);
        free(title);
    }
    cJSON_Delete(player);
    snprintf(path, sizeof path, "/stats/match/%s", match);
    cJSON *m = api(path);
    snprintf(path, sizeof path, "match.html?id=%s", match);
    if (visit("match", path, false) && m) {
        cJSON *info = cJSON_GetObjectItem(m, "info");
        check_number("match", "kills", "'[data-stat=total_kills]'",
                     cJSON_GetNumberValue(cJSON_GetObjectItem(info, "total_kills")));
        char *rows = page_eval("return String(document.querySelectorAll('#scoreboard tbody tr').length);");
        int want = cJSON_GetArraySize(cJSON_GetObjectItem(m, "scoreboard"));
        check(atoi(rows) == want, "match: the scoreboard lists the %d players of the match (page: %s)", want, rows);
        free(rows);
        /* The heat map's toggle redraws it with the deaths. */
        free(page_eval("document.querySelector('input[name=heat][value=deaths]').click(); return '';"));
        char *caption = NULL;
        for (int i = 0; i < 100; i++) {
            free(caption);
            caption = text_of("'#heat figcaption, #heat .msg'");
            if (strstr(caption, "Deaths") || strstr(caption, "No positions"))
                break;
            usleep(50000);
        }
        check(strstr(caption, "Deaths") != NULL, "match: the heat map switches to deaths (page: '%s')", caption);
        free(caption);
    }
    cJSON_Delete(m);
    /* The other pages: ready, no console errors, every section loaded. */
    visit("matches", "matches.html", false);
    visit("servers", "servers.html", false);
    visit("maps", "maps.html", false);
    visit("weapons", "weapons.html", false);
    visit("achievements", "achievements.html", false);
    cJSON *servers = api("/servers");
    const char *server = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(servers, 0), "server_id"));
    snprintf(path, sizeof path, "server.html?id=%s", server ? server : "");
    visit("server", path, false);
    cJSON_Delete(servers);
    char *map = curl_easy_escape(NULL,
                                 cJSON_GetStringValue(cJSON_GetObjectItem(
                                     cJSON_GetArrayItem(cJSON_GetObjectItem(matches, "list"), 0), "map_name")),
                                 0);
    snprintf(path, sizeof path, "map.html?name=%s", map ? map : "");
    visit("map", path, false);
    curl_free(map);
    cJSON *weapons_list = api("/stats/weapons");
    char *weapon = curl_easy_escape(
        NULL, cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(weapons_list, 0), "weapon_name")), 0);
    snprintf(path, sizeof path, "weapon.html?name=%s", weapon ? weapon : "");
    visit("weapon", path, false);
    curl_free(weapon);
    cJSON_Delete(weapons_list);
    /* A player that does not exist: the page says so instead of staying blank. */
    visit("player-missing", "player.html?guid=no-such-player", true);

    /* On a phone (412 px wide, as a common Android phone): nothing makes the page itself scroll sideways; wide
     * tables scroll inside their own box. */
    cJSON *rect = cJSON_CreateObject(), *rroot;
    cJSON_AddNumberToObject(rect, "width", 412);
    cJSON_AddNumberToObject(rect, "height", 900);
    wd("POST", "/window/rect", rect, &rroot);
    cJSON_Delete(rroot);
    const char *phone_pages[][2] = {
        {"home-phone", ""}, {"leaderboards-phone", "leaderboards.html"}, {"player-phone", NULL}, {"match-phone", NULL}};
    char player_path[256], match_path[256];
    snprintf(player_path, sizeof player_path, "player.html?guid=%s", guid);
    snprintf(match_path, sizeof match_path, "match.html?id=%s", match);
    phone_pages[2][1] = player_path;
    phone_pages[3][1] = match_path;
    for (size_t i = 0; i < sizeof phone_pages / sizeof phone_pages[0]; i++) {
        if (!visit(phone_pages[i][0], phone_pages[i][1], false))
            continue;
        char *widths = page_eval("return document.documentElement.scrollWidth + ' ' + window.innerWidth;");
        int scroll = 0, inner = 0;
        sscanf(widths, "%d %d", &scroll, &inner);
        check(inner > 0 && scroll <= inner, "%s: the page fits the phone's width (%s px: content, window)",
              phone_pages[i][0], widths);
        free(widths);
    }

done:
    cJSON_Delete(global);
    cJSON_Delete(board);
    cJSON_Delete(matches);
    cJSON *root;
    char url[1024];
    snprintf(url, sizeof url, "%s/session/%s", driver, session);
    long status;
    root = http_json("DELETE", url, NULL, &status);
    cJSON_Delete(root);
    curl_global_cleanup();
    printf("browser_check: %u passed, %u failed\n", tool_passed, tool_failed);
    return tool_failed ? 1 : 0;
}
