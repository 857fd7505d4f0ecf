# bench/report.awk: turns probe_throughput's per-run records into the markdown tables of RESULTS.md.
#
# Input: tab-separated lines "what n mode iv secs checks ok cpu_s hwm_kib hwm_scraped_kib" where
# what is medic, base (a 1-service node, for its memory), ceiling (curl_ceiling) or blackbox; n is
# services (or concurrency for the references); mode is ka or fresh; hwm is VmHWM before any
# /metrics fetch, hwm_scraped after one; "-" marks a missing field.
# Output: the summary table, the targets, and every medic interval, all as medians of the runs.
BEGIN { FS = "\t" }
{
    g = $1 SUBSEP $2 SUBSEP $3 SUBSEP $4
    if (!(g in cnt)) { order[++ngroups] = g }
    k = ++cnt[g]
    cps[g, k] = $6 / $5
    okcps[g, k] = $7 / $5
    okpct[g, k] = $6 > 0 ? 100 * $7 / $6 : 0
    cpu1k[g, k] = $7 > 0 ? 1000 * $8 / $7 : "-"
    hwm[g, k] = $9
    hwms[g, k] = $10
}

# med(arr, g): the median of arr[g, 1..cnt[g]], skipping "-"; "-" when nothing is left.
function med(arr, g,    i, n, v, j, t) {
    n = 0
    for (i = 1; i <= cnt[g]; i++) if (arr[g, i] != "-") v[++n] = arr[g, i] + 0
    if (n == 0) return "-"
    for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function f(x, fmt) { return x == "-" ? "n/a" : sprintf(fmt, x) }
function div(a, b) { return (a == "-" || b == "-" || b == 0) ? "-" : a / b }
function grp(what, n, mode, iv) { return what SUBSEP n SUBSEP mode SUBSEP iv }
function modename(m) { return m == "ka" ? "keep-alive" : "new connection per check" }
function commas(x,    s) { s = sprintf("%d", x); while (s ~ /[0-9][0-9][0-9][0-9]/) sub(/[0-9][0-9][0-9]([,]|$)/, ",&", s); return s }
function find(what, mode,    i, p) {
    for (i = 1; i <= ngroups; i++) { split(order[i], p, SUBSEP); if (p[1] == what && p[3] == mode) return order[i] }
    return ""
}
# row: one table line for group g; ceil is the ceiling group of the same mode ("" for none).
function row(label, g, ceil, n, base,    c, pc, r, h, b, rs, hs) {
    c = med(cpu1k, g); pc = div(1000, c)
    h = med(hwm, g); b = base == "" ? "-" : med(hwm, base); hs = med(hwms, g)
    rs = (h == "-" || b == "-" || n == "") ? "-" : (h - b) * 1024 / n
    r = ceil == "" ? "-" : div(med(okcps, g), med(okcps, ceil))
    printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", label, f(med(cps, g), "%.0f"),
        f(med(okcps, g), "%.0f"), f(med(okpct, g), "%.1f"), f(r, "%.2f"), f(c, "%.4f"), f(pc, "%.0f"),
        f(div(pc, bbpc), "%.1fx"), f(h, "%.0f"), f(rs, "%.0f"), f(div(rs, 2048), "%.2f"), f(hs, "%.0f")
}
function header() {
    print "| what | checks/s | ok checks/s | ok % | vs ceiling | CPU s per 1,000 ok checks | ok checks per CPU-s | vs blackbox per CPU-s | peak RSS KiB | RSS B per service | vs 2 KiB | peak RSS KiB after a /metrics scrape |"
    print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
}
function verdict(x, op, t) {
    if (x == "-") return "not measured"
    return (op == ">=" ? x >= t : x < t) ? "met" : "**not met**"
}
END {
    bb = find("blackbox", "fresh"); bbpc = bb == "" ? "-" : div(1000, med(cpu1k, bb))
    ck["ka"] = find("ceiling", "ka"); ck["fresh"] = find("ceiling", "fresh")
    # The best interval of each medic configuration: the highest median ok checks/s.
    for (i = 1; i <= ngroups; i++) {
        split(order[i], p, SUBSEP)
        if (p[1] != "medic") continue
        key = p[2] SUBSEP p[3]
        if (!(key in best) || med(okcps, order[i]) > med(okcps, best[key])) best[key] = order[i]
    }
    print "### Summary (each medic row: its best interval)"
    print ""
    header()
    split("1000 10000", ns, " "); split("ka fresh", ms, " ")
    for (mi = 1; mi <= 2; mi++) for (ni = 1; ni <= 2; ni++) {
        key = ns[ni] SUBSEP ms[mi]
        if (!(key in best)) continue
        split(best[key], p, SUBSEP)
        row(sprintf("medic, %s services every %s ms, %s", commas(ns[ni]), p[4], modename(ms[mi])), best[key],
            ck[ms[mi]], ns[ni], find("base", ms[mi]))
    }
    for (mi = 1; mi <= 2; mi++) if (ck[ms[mi]] != "") {
        split(ck[ms[mi]], p, SUBSEP)
        row(sprintf("curl_ceiling -c %s, %s", p[2], modename(ms[mi])), ck[ms[mi]], ck[ms[mi]], "", "")
    }
    if (bb != "") { split(bb, p, SUBSEP); row(sprintf("blackbox_exporter /probe, wrk -c%s (a new connection per probe)", p[2]), bb, "", "", "") }

    ka = (1000 SUBSEP "ka") in best ? best[1000 SUBSEP "ka"] : ""
    ka10 = (10000 SUBSEP "ka") in best ? best[10000 SUBSEP "ka"] : ""
    fr = (1000 SUBSEP "fresh") in best ? best[1000 SUBSEP "fresh"] : ""
    v1 = ka == "" ? "-" : med(okcps, ka); v10 = ka10 == "" ? "-" : med(okcps, ka10)
    r1 = ck["ka"] == "" ? "-" : div(v1, med(okcps, ck["ka"])); r10 = ck["ka"] == "" ? "-" : div(v10, med(okcps, ck["ka"]))
    pk = ka == "" ? "-" : div(div(1000, med(cpu1k, ka)), bbpc); pf = fr == "" ? "-" : div(div(1000, med(cpu1k, fr)), bbpc)
    rs = "-"; rss = "-"
    if (ka10 != "" && find("base", "ka") != "") {
        rs = (med(hwm, ka10) - med(hwm, find("base", "ka"))) * 1024 / 10000
        rss = (med(hwms, ka10) - med(hwms, find("base", "ka"))) * 1024 / 10000
    }
    print ""
    print "### Targets"
    print ""
    print "| target | measured | |"
    print "|---|---:|---|"
    printf "| >= 20,000 ok checks/s with keep-alive, 1,000 services | %s | %s |\n", f(v1, "%.0f"), verdict(v1, ">=", 20000)
    printf "| >= 20,000 ok checks/s with keep-alive, 10,000 services | %s | %s |\n", f(v10, "%.0f"), verdict(v10, ">=", 20000)
    printf "| >= 75%% of the ceiling with keep-alive, 1,000 services | %s | %s |\n", f(r1, "%.2f"), verdict(r1, ">=", 0.75)
    printf "| >= 75%% of the ceiling with keep-alive, 10,000 services | %s | %s |\n", f(r10, "%.2f"), verdict(r10, ">=", 0.75)
    printf "| >= 10x blackbox's checks per CPU-s, both a new connection per check | %s | %s |\n", f(pf, "%.1fx"), verdict(pf, ">=", 10)
    printf "| >= 10x blackbox's checks per CPU-s, medic with keep-alive | %s | %s |\n", f(pk, "%.1fx"), verdict(pk, ">=", 10)
    printf "| < 2 KiB RSS per service at 10,000 services, keep-alive | %s | %s |\n", f(rs, "%.0f B"), verdict(rs, "<", 2048)
    printf "| the same, counting the peak of one /metrics scrape | %s | %s |\n", f(rss, "%.0f B"), verdict(rss, "<", 2048)

    print ""
    print "### Every medic interval (offered load = services / interval)"
    print ""
    header()
    for (i = 1; i <= ngroups; i++) {
        split(order[i], p, SUBSEP)
        if (p[1] != "medic") continue
        row(sprintf("%s services every %s ms (%s/s offered), %s", commas(p[2]), p[4], commas(p[2] * 1000 / p[4]),
            modename(p[3])), order[i], ck[p[3]], p[2], find("base", p[3]))
    }
}
