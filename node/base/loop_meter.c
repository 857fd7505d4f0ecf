/* loop_meter.c: measures how long each turn of the loop works between two waits (its stall),
 * so a node can show and log what delays its timers: a turn longer than the election timeout
 * makes a follower campaign and a leader miss its heartbeats. */
#include "base.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

struct md_loop_meter {
    uv_prepare_t prep;
    uv_loop_t *loop;
    int64_t warn_us;
    uint64_t last_ns;      /* uv_hrtime at the previous prepare, 0 before the first */
    uint64_t last_idle_ns; /* uv_metrics_idle_time then */
    int64_t last_cpu_us;   /* the loop thread's CPU time then */
    md_loop_stats st;
};

static int64_t thread_cpu_us(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* on_prepare runs just before the loop waits: the time since the previous wait, minus what the
 * loop spent waiting in between, is the work of one turn (timers, I/O callbacks, checks). Its CPU
 * time says how much of that was the node's own work rather than waiting for a CPU on a busy
 * machine. */
static void on_prepare(uv_prepare_t *p)
{
    md_loop_meter *m = p->data;
    uint64_t now = uv_hrtime(), idle = uv_metrics_idle_time(m->loop);
    if (m->last_ns != 0) {
        uint64_t span = now - m->last_ns, waited = idle - m->last_idle_ns;
        int64_t busy_us = waited < span ? (int64_t)((span - waited) / 1000) : 0;
        md_loop_stats_add(&m->st, busy_us, m->warn_us);
        if (m->warn_us > 0 && busy_us >= m->warn_us) {
            int64_t cpu_us = thread_cpu_us() - m->last_cpu_us;
            if (cpu_us > m->st.max_stall_cpu_us)
                m->st.max_stall_cpu_us = cpu_us;
            md_log(MD_LOG_WARN, "loop_stall", MD_I("ms", busy_us / 1000), MD_I("cpu_ms", cpu_us / 1000),
                   MD_I("stalls", m->st.stalls),
                   MD_S("effect", "timers (heartbeats, elections, checks) ran late by this much"));
        }
    }
    m->last_ns = now;
    m->last_idle_ns = idle;
    /* Read only when a turn may be measured against it: one clock call a turn. */
    if (m->warn_us > 0)
        m->last_cpu_us = thread_cpu_us();
}

void md_loop_stats_add(md_loop_stats *st, int64_t busy_us, int64_t warn_us)
{
    st->turns++;
    st->busy_us += (uint64_t)busy_us;
    if (busy_us > st->max_us)
        st->max_us = busy_us;
    if (warn_us > 0 && busy_us >= warn_us)
        st->stalls++;
}

int md_loop_meter_new(uv_loop_t *loop, int64_t warn_ms, md_loop_meter **out)
{
    *out = NULL;
    /* Counting idle time must be switched on before the loop first waits. */
    int rc = uv_loop_configure(loop, UV_METRICS_IDLE_TIME);
    if (rc < 0)
        return rc;
    md_loop_meter *m = calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    m->loop = loop;
    m->warn_us = warn_ms * 1000;
    uv_prepare_init(loop, &m->prep);
    m->prep.data = m;
    uv_prepare_start(&m->prep, on_prepare);
    uv_unref((uv_handle_t *)&m->prep); /* measuring must not keep the loop running */
    *out = m;
    return 0;
}

void md_loop_meter_stats(const md_loop_meter *m, md_loop_stats *out)
{
    *out = m->st;
}

static void on_closed(uv_handle_t *h) { free(h->data); }

void md_loop_meter_close(md_loop_meter *m)
{
    if (m)
        uv_close((uv_handle_t *)&m->prep, on_closed);
}
