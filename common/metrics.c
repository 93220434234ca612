#include "metrics.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

struct vg_series {
    const struct vg_metric *family;
    char *values[VG_METRIC_MAX_LABELS];
    _Atomic uint64_t count; /* counter value, or histogram count */
    _Atomic uint64_t bits;  /* gauge value as the bits of a double */
    pthread_mutex_t lock;   /* histogram only */
    uint64_t buckets[VG_METRIC_MAX_BUCKETS];
    double sum;
};

struct vg_metric {
    const char *name, *help;
    enum vg_metric_type type;
    char *labels[VG_METRIC_MAX_LABELS];
    size_t nlabels;
    double bounds[VG_METRIC_MAX_BUCKETS];
    size_t nbounds;
    struct vg_series *series[VG_METRIC_MAX_SERIES + 1];
    _Atomic size_t nseries;
    struct vg_metric *next;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vg_metric *registry, **registry_tail = &registry;

static const double default_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                         0.1,    0.25,  0.5,    1,     2.5,  5,     10};

static struct vg_metric *declare(const char *name, const char *help, const char *labels,
                                 enum vg_metric_type type, const double *buckets,
                                 size_t nbuckets)
{
    pthread_mutex_lock(&registry_lock);
    for (struct vg_metric *m = registry; m; m = m->next) {
        if (!strcmp(m->name, name)) {
            pthread_mutex_unlock(&registry_lock);
            return m;
        }
    }
    struct vg_metric *m = vg_xcalloc(1, sizeof(*m));
    m->name = name;
    m->help = help;
    m->type = type;
    for (const char *p = labels; p && *p && m->nlabels < VG_METRIC_MAX_LABELS;) {
        size_t n = strcspn(p, ",");
        m->labels[m->nlabels++] = vg_xstrndup(p, n);
        p += n + (p[n] == ',');
    }
    if (type == VG_HISTOGRAM) {
        if (!buckets) {
            buckets = default_buckets;
            nbuckets = VG_ARRAY_LEN(default_buckets);
        }
        m->nbounds = VG_MIN(nbuckets, (size_t)VG_METRIC_MAX_BUCKETS);
        memcpy(m->bounds, buckets, m->nbounds * sizeof(double));
    }
    *registry_tail = m;
    registry_tail = &m->next;
    pthread_mutex_unlock(&registry_lock);
    return m;
}

struct vg_metric *vg_metrics_counter(const char *name, const char *help, const char *labels)
{
    return declare(name, help, labels, VG_COUNTER, NULL, 0);
}

struct vg_metric *vg_metrics_gauge(const char *name, const char *help, const char *labels)
{
    return declare(name, help, labels, VG_GAUGE, NULL, 0);
}

struct vg_metric *vg_metrics_histogram(const char *name, const char *help, const char *labels,
                                       const double *buckets, size_t nbuckets)
{
    return declare(name, help, labels, VG_HISTOGRAM, buckets, nbuckets);
}

static struct vg_series *series_new(struct vg_metric *m, const char **values)
{
    struct vg_series *s = vg_xcalloc(1, sizeof(*s));
    s->family = m;
    for (size_t i = 0; i < m->nlabels; i++)
        s->values[i] = vg_xstrdup(values[i]);
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

static int series_match(const struct vg_metric *m, const struct vg_series *s,
                        const char **values)
{
    for (size_t i = 0; i < m->nlabels; i++)
        if (strcmp(s->values[i], values[i]))
            return 0;
    return 1;
}

static struct vg_series *lookup(struct vg_metric *m, const char **values)
{
    size_t n = atomic_load(&m->nseries);
    for (size_t i = 0; i < n; i++)
        if (series_match(m, m->series[i], values))
            return m->series[i];

    pthread_mutex_lock(&registry_lock);
    n = atomic_load(&m->nseries);
    struct vg_series *s = NULL;
    for (size_t i = 0; i < n && !s; i++)
        if (series_match(m, m->series[i], values))
            s = m->series[i];
    if (!s && n < VG_METRIC_MAX_SERIES) {
        s = series_new(m, values);
        m->series[n] = s;
        atomic_store(&m->nseries, n + 1);
    } else if (!s) {
        /* The bound on label cardinality: one shared overflow series. */
        if (!m->series[VG_METRIC_MAX_SERIES]) {
            const char *other[VG_METRIC_MAX_LABELS] = {"other", "other", "other", "other"};
            m->series[VG_METRIC_MAX_SERIES] = series_new(m, other);
        }
        s = m->series[VG_METRIC_MAX_SERIES];
    }
    pthread_mutex_unlock(&registry_lock);
    return s;
}

struct vg_series *vg_metric_series(struct vg_metric *m, ...)
{
    const char *values[VG_METRIC_MAX_LABELS] = {0};
    va_list ap;
    va_start(ap, m);
    for (size_t i = 0; i < m->nlabels; i++) {
        values[i] = va_arg(ap, const char *);
        if (!values[i])
            values[i] = "";
    }
    va_end(ap);
    return lookup(m, values);
}

struct vg_series *vg_metric_plain(struct vg_metric *m)
{
    return lookup(m, NULL);
}

void vg_metric_init_series(struct vg_metric *m, const char *const *values, size_t n)
{
    size_t k = m->nlabels ? m->nlabels : 1;
    for (size_t i = 0; i + k <= n * k; i += k)
        (void)lookup(m, (const char **)values + i);
}

void vg_counter_add(struct vg_series *s, uint64_t n)
{
    atomic_fetch_add_explicit(&s->count, n, memory_order_relaxed);
}

static double bits_to_double(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof(d));
    return d;
}

static uint64_t double_to_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof(b));
    return b;
}

void vg_gauge_set(struct vg_series *s, double v)
{
    atomic_store_explicit(&s->bits, double_to_bits(v), memory_order_relaxed);
}

void vg_gauge_add(struct vg_series *s, double delta)
{
    uint64_t old = atomic_load_explicit(&s->bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak(&s->bits, &old,
                                         double_to_bits(bits_to_double(old) + delta)))
        ;
}

void vg_histogram_observe(struct vg_series *s, double v)
{
    const struct vg_metric *m = s->family;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < m->nbounds; i++)
        if (v <= m->bounds[i])
            s->buckets[i]++; /* cumulative, as the exposition format wants */
    s->sum += v;
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
    pthread_mutex_unlock(&s->lock);
}

double vg_series_value(struct vg_series *s)
{
    if (s->family->type == VG_GAUGE)
        return bits_to_double(atomic_load(&s->bits));
    return (double)atomic_load(&s->count);
}

const char *vg_metrics_format(double v, char buf[32])
{
    /* The shortest %g that reads back as the same double: 0.1, not
     * 0.10000000000000001 (what Go's strconv 'g', -1 prints). Whole
     * numbers as integers: 300, not 3e+02. */
    if (fabs(v) < 1e15 && v == (double)(int64_t)v) {
        snprintf(buf, 32, "%lld", (long long)v);
        return buf;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, 32, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    return buf;
}

static void put_number(struct vg_buf *out, double v)
{
    if (isnan(v))
        vg_buf_puts(out, "NaN");
    else if (isinf(v))
        vg_buf_puts(out, v > 0 ? "+Inf" : "-Inf");
    else
        vg_buf_puts(out, vg_metrics_format(v, (char[32]){0}));
}

/* Label values escape backslash, double quote and newline. */
static void put_label_value(struct vg_buf *out, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\')
            vg_buf_puts(out, "\\\\");
        else if (*v == '"')
            vg_buf_puts(out, "\\\"");
        else if (*v == '\n')
            vg_buf_puts(out, "\\n");
        else
            vg_buf_putc(out, *v);
    }
}

/* {a="x",b="y"[,le="0.5"]} or nothing when there are no labels. */
static void put_labels(struct vg_buf *out, const struct vg_metric *m, const struct vg_series *s,
                       const char *le)
{
    if (m->nlabels == 0 && !le)
        return;
    vg_buf_putc(out, '{');
    for (size_t i = 0; i < m->nlabels; i++) {
        vg_buf_printf(out, "%s%s=\"", i ? "," : "", m->labels[i]);
        put_label_value(out, s->values[i]);
        vg_buf_putc(out, '"');
    }
    if (le)
        vg_buf_printf(out, "%sle=\"%s\"", m->nlabels ? "," : "", le);
    vg_buf_putc(out, '}');
}

static void put_help(struct vg_buf *out, const char *help)
{
    for (; *help; help++) {
        if (*help == '\\')
            vg_buf_puts(out, "\\\\");
        else if (*help == '\n')
            vg_buf_puts(out, "\\n");
        else
            vg_buf_putc(out, *help);
    }
}

static void render_series(struct vg_buf *out, const struct vg_metric *m, struct vg_series *s)
{
    if (m->type != VG_HISTOGRAM) {
        vg_buf_puts(out, m->name);
        put_labels(out, m, s, NULL);
        vg_buf_putc(out, ' ');
        put_number(out, vg_series_value(s));
        vg_buf_putc(out, '\n');
        return;
    }
    pthread_mutex_lock(&s->lock);
    uint64_t count = atomic_load(&s->count);
    for (size_t i = 0; i < m->nbounds; i++) {
        char le[32];
        vg_metrics_format(m->bounds[i], le);
        vg_buf_printf(out, "%s_bucket", m->name);
        put_labels(out, m, s, le);
        vg_buf_printf(out, " %llu\n", (unsigned long long)s->buckets[i]);
    }
    vg_buf_printf(out, "%s_bucket", m->name);
    put_labels(out, m, s, "+Inf");
    vg_buf_printf(out, " %llu\n%s_sum", (unsigned long long)count, m->name);
    put_labels(out, m, s, NULL);
    vg_buf_putc(out, ' ');
    put_number(out, s->sum);
    vg_buf_printf(out, "\n%s_count", m->name);
    put_labels(out, m, s, NULL);
    vg_buf_printf(out, " %llu\n", (unsigned long long)count);
    pthread_mutex_unlock(&s->lock);
}

/* One gauge or counter line of the process_* families. */
static void put_process(struct vg_buf *out, const char *name, const char *type, const char *help,
                        double v)
{
    vg_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s ", name, help, name, type, name);
    put_number(out, v);
    vg_buf_putc(out, '\n');
}

/* The fields of /proc/self/stat after the command name: utime and stime
 * (14, 15), starttime (22), vsize (23), rss in pages (24). */
static int read_proc_stat(double *cpu_s, double *start_ticks, double *vsize, double *rss_pages)
{
    char line[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return -1;
    size_t n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = '\0';
    const char *p = strrchr(line, ')'); /* the name may hold spaces and parentheses */
    unsigned long long ut, st, start, vs;
    long long rss;
    if (!p || sscanf(p + 2,
                     "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
                     "%*d %*d %llu %llu %lld",
                     &ut, &st, &start, &vs, &rss) != 5)
        return -1;
    double hz = (double)sysconf(_SC_CLK_TCK);
    *cpu_s = (double)(ut + st) / hz;
    *start_ticks = (double)start / hz;
    *vsize = (double)vs;
    *rss_pages = (double)rss;
    return 0;
}

/* Boot time (btime of /proc/stat), to turn starttime into Unix time. */
static double boot_time(void)
{
    char line[256];
    double bt = 0;
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "btime %lf", &bt) == 1)
            break;
    fclose(f);
    return bt;
}

static double open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    double n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

void vg_metrics_render_process(struct vg_buf *out)
{
    double cpu, start, vsize, rss;
    if (read_proc_stat(&cpu, &start, &vsize, &rss))
        return; /* not Linux: the process_* families are left out */
    put_process(out, "process_cpu_seconds_total", "counter",
                "Total user and system CPU time spent in seconds.", cpu);
    put_process(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
                rss * (double)sysconf(_SC_PAGESIZE));
    put_process(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
                vsize);
    put_process(out, "process_open_fds", "gauge", "Number of open file descriptors.",
                open_fds());
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        put_process(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
                    (double)rl.rlim_cur);
    put_process(out, "process_start_time_seconds", "gauge",
                "Start time of the process since unix epoch in seconds.", boot_time() + start);
}

void vg_metrics_render(struct vg_buf *out)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    pthread_mutex_lock(&registry_lock);
    for (struct vg_metric *m = registry; m; m = m->next) {
        vg_buf_printf(out, "# HELP %s ", m->name);
        put_help(out, m->help);
        vg_buf_printf(out, "\n# TYPE %s %s\n", m->name, types[m->type]);
        size_t n = atomic_load(&m->nseries);
        for (size_t i = 0; i < n; i++)
            render_series(out, m, m->series[i]);
        if (m->series[VG_METRIC_MAX_SERIES])
            render_series(out, m, m->series[VG_METRIC_MAX_SERIES]);
    }
    pthread_mutex_unlock(&registry_lock);
}

static void series_free(const struct vg_metric *m, struct vg_series *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < m->nlabels; i++)
        free(s->values[i]);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void vg_metrics_reset(void)
{
    pthread_mutex_lock(&registry_lock);
    struct vg_metric *m = registry;
    while (m) {
        struct vg_metric *next = m->next;
        for (size_t i = 0; i <= VG_METRIC_MAX_SERIES; i++)
            series_free(m, m->series[i]);
        for (size_t i = 0; i < m->nlabels; i++)
            free(m->labels[i]);
        free(m);
        m = next;
    }
    registry = NULL;
    registry_tail = &registry;
    pthread_mutex_unlock(&registry_lock);
}
