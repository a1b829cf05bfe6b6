/* The web dashboard's static files (web/ of the repository): read into memory at start and served at WEB_PATH with
 * caching headers; the pages fetch their numbers from the JSON API.
 *
 * | route                 | answers                                                                  |
 * |-----------------------|--------------------------------------------------------------------------|
 * | GET {WEB_PATH}        | web/index.html                                                           |
 * | GET {WEB_PATH}{file*} | web/<file> (a directory: its index.html); vendor/chart.js: WEB_CHART_JS |
 *
 * Files are loaded once, at start: requests never touch the disk (no blocking read in the event loop), and each
 * file's ETag is computed once. A changed page needs a restart of queryd.
 *
 * Not on the endpoint table (endpoint.h): files are not computed answers, so they need neither a job nor the answer
 * cache; their own ETags and caching headers serve them. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "area.h"
#include "log.h"

#define WEB_MAX_FILES 256
#define WEB_MAX_FILE_BYTES (4 * 1024 * 1024)

typedef struct {
    char *path; /* relative to the web root, no leading slash */
    char *body;
    size_t len;
    const char *type;
    char etag[24];
} web_file;

static web_file files[WEB_MAX_FILES];
static size_t nfiles;
static char web_path[128];

const config_var web_config_vars[] = {
    {"WEB_DIR", "",
     "the dashboard's static files; empty: the web/ directory of the source tree the queryd binary was built in "
     "(its ../web), else /usr/share/mohstats/web; off: no dashboard (the API only)"},
    {"WEB_PATH", "/", "where the front door serves the dashboard: / or a path such as /stats/ (with both slashes)"},
    {"WEB_CHART_JS", "/usr/share/javascript/chart.js/chart.min.js",
     "the chart library the pages draw with (Debian's libjs-chart.js), served as vendor/chart.js"},
    {NULL, NULL, NULL},
};

/* The Content-Type of a file name. */
static const char *content_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
        {".webmanifest", "application/manifest+json"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

/* Read a whole regular file; 0 or a negative errno. */
static int read_file(const char *path, char **out, size_t *len)
{
    /* No FIFO can hold the start up (O_NONBLOCK), no link can lead out of the tree (O_NOFOLLOW; load_dir skips
     * them too). */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > WEB_MAX_FILE_BYTES) {
        close(fd);
        return -EINVAL;
    }
    char *b = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (b && got < (size_t)st.st_size) {
        ssize_t n = read(fd, b + got, (size_t)st.st_size - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (!b || got != (size_t)st.st_size) {
        free(b);
        return -EIO;
    }
    *out = b;
    *len = got;
    return 0;
}

/* Keep one file under the relative name rel; 0 or a negative errno. */
static int add_file(const char *full, const char *rel)
{
    if (nfiles == WEB_MAX_FILES)
        return -ENOSPC;
    web_file *f = &files[nfiles];
    int rc = read_file(full, &f->body, &f->len);
    if (rc != 0)
        return rc;
    f->path = strdup(rel);
    if (!f->path) {
        free(f->body);
        return -ENOMEM;
    }
    f->type = content_type(rel);
    /* FNV-1a over the content: the ETag changes exactly when the file does. */
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < f->len; i++)
        h = (h ^ (unsigned char)f->body[i]) * 0x100000001b3ULL;
    snprintf(f->etag, sizeof f->etag, "\"%016llx\"", (unsigned long long)h);
    nfiles++;
    return 0;
}

/* Load every file under dir (relative names prefixed by rel), skipping hidden ones and symbolic links (a link
 * could publish anything the daemon can read). A file that cannot be read is left out and logged, the rest
 * served: one bad file must not take the dashboard down. */
static int load_dir(const char *dir, const char *rel)
{
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char full[PATH_MAX], sub[PATH_MAX];
        int nf = snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
        int ns = snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        struct stat st;
        if (nf < 0 || (size_t)nf >= sizeof full || ns < 0 || (size_t)ns >= sizeof sub || lstat(full, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            rc = load_dir(full, sub);
        } else if (S_ISREG(st.st_mode)) {
            int frc = add_file(full, sub);
            if (frc == -ENOMEM || frc == -ENOSPC)
                rc = frc;
            else if (frc != 0)
                log_warn("dashboard: %s left out: %s", full, strerror(-frc));
        }
    }
    closedir(d);
    return rc;
}

/* The web root: WEB_DIR, else ../web beside the binary, else the installed copy; NULL when off or absent. */
static const char *web_root(char *buf, size_t size)
{
    const char *dir = config_get("WEB_DIR");
    if (strcmp(dir, "off") == 0)
        return NULL;
    if (*dir)
        return dir;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            int w = snprintf(buf, size, "%.*s/../web", (int)(size > 16 ? size - 16 : 0), exe);
            struct stat st;
            if (w > 0 && (size_t)w < size && stat(buf, &st) == 0 && S_ISDIR(st.st_mode))
                return buf;
        }
    }
    return "/usr/share/mohstats/web";
}

/* The file for a request's relative path ("" and directories: their index.html), or NULL. */
static const web_file *find_file(const char *rel)
{
    char want[PATH_MAX];
    size_t len = strlen(rel);
    if (len == 0 || rel[len - 1] == '/')
        snprintf(want, sizeof want, "%sindex.html", rel);
    else
        snprintf(want, sizeof want, "%s", rel);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < nfiles; i++)
            if (strcmp(files[i].path, want) == 0)
                return &files[i];
        /* A directory named without its slash. */
        snprintf(want, sizeof want, "%s/index.html", rel);
    }
    return NULL;
}

/* GET a dashboard file: 200 with caching headers, 304 when the client's copy is current, 404 otherwise. */
static void web_get(http_request *req, void *arg)
{
    (void)arg;
    const char *rel = http_request_param(req, "file");
    if (!rel)
        rel = "";
    /* The API's unknown paths keep their JSON 404; the router hands them here because this route takes the rest. */
    if (strncmp(rel, "api/", 4) == 0 || strcmp(rel, "api") == 0) {
        http_respond_error(req, 404, "Not found");
        return;
    }
    /* "/stats" for a dashboard at "/stats/": the pages' relative links need the slash. */
    const char *path = http_request_path(req);
    size_t plen = strlen(path);
    if (!*rel && plen && path[plen - 1] != '/') {
        http_response_header(req, "Location", web_path);
        http_respond(req, 301, "text/plain; charset=utf-8", "The dashboard is one slash further.\n", 36);
        return;
    }
    const web_file *f = strstr(rel, "..") ? NULL : find_file(rel);
    if (!f) {
        http_respond_error(req, 404, "No such page of the dashboard; the home page is at the dashboard's root.");
        return;
    }
    /* Every file is revalidated on every visit (a cheap 304 with its ETag): the names of the scripts and styles do
     * not change between releases, so a page kept with yesterday's script would break. */
    bool page = strncmp(f->type, "text/html", 9) == 0;
    http_response_header(req, "Cache-Control", "no-cache");
    http_response_header(req, "ETag", f->etag);
    http_response_header(req, "X-Content-Type-Options", "nosniff");
    if (page) {
        http_response_header(req, "Content-Security-Policy",
                             "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                             "frame-ancestors 'none'");
        http_response_header(req, "Referrer-Policy", "same-origin");
    }
    const char *inm = http_request_header(req, "If-None-Match");
    if (inm && strstr(inm, f->etag)) {
        http_respond(req, 304, NULL, "", 0);
        return;
    }
    http_respond(req, 200, f->type, f->body, f->len);
}

void web_routes(queryd *q, http_server *s)
{
    (void)q;
    char buf[PATH_MAX];
    const char *root = web_root(buf, sizeof buf);
    if (!root) {
        log_info("dashboard off (WEB_DIR=off)");
        return;
    }
    const char *path = config_get("WEB_PATH");
    size_t plen = strlen(path);
    if (plen == 0 || path[0] != '/' || path[plen - 1] != '/' || plen >= sizeof web_path - 16 ||
        strncmp(path, "/api/", 5) == 0) {
        log_error("WEB_PATH must start and end with a slash and not be under /api/ (got '%s'); dashboard off", path);
        return;
    }
    snprintf(web_path, sizeof web_path, "%s", path);
    int rc = load_dir(root, "");
    if (rc != 0 || nfiles == 0) {
        log_warn("dashboard off: cannot read its files in %s (%s); set WEB_DIR", root, rc ? strerror(-rc) : "no files");
        return;
    }
    const char *chart = config_get("WEB_CHART_JS");
    if (*chart && add_file(chart, "vendor/chart.js") != 0)
        log_warn("the dashboard's charts are off: cannot read %s (install libjs-chart.js or set WEB_CHART_JS)", chart);
    char pattern[160];
    http_server_route(s, "GET", web_path, web_get, q);
    snprintf(pattern, sizeof pattern, "%s{file*}", web_path);
    http_server_route(s, "GET", pattern, web_get, q);
    log_info("dashboard: %zu files from %s at %s", nfiles, root, web_path);
}
