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
function row(label, g, ceil, n, base,    c, pc, r, h, b, rs, hs, cr) {
    c = med(cpu1k, g); pc = div(1000, c)
    cr = ceil == "" ? "-" : div(c, med(cpu1k, ceil))
    h = med(hwm, g); b = base == "" ? "-" : med(hwm, base); hs = med(hwms, g)
    rs = (h == "-" || b == "-" || n == "") ? "-" : (h - b) * 1024 / n
    r = ceil == "" ? "-" : div(med(okcps, g), med(okcps, ceil))
    printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", label, f(med(cps, g), "%.0f"),
        f(med(okcps, g), "%.0f"), f(med(okpct, g), "%.1f"), f(r, "%.2f"), f(c, "%.4f"), f(cr, "%.2fx"), f(pc, "%.0f"),
        f(div(pc, bbpc), "%.1fx"), f(h, "%.0f"), f(rs, "%.0f"), f(div(rs, 2048), "%.2f"), f(hs, "%.0f")
}
function header() {
    print "| what | checks/s | ok checks/s | ok % | vs ceiling | CPU s per 1,000 ok checks | CPU per ok check vs ceiling | ok checks per CPU-s | vs blackbox per CPU-s | peak RSS KiB | RSS B per service | vs 2 KiB | peak RSS KiB after /metrics and /v1/status |"
    print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
}
function verdict(x, op, t) {
    if (x == "-") return "not measured"
    return (op == ">=" ? x >= t : op == "<=" ? x <= t : x < t) ? "met" : "**not met**"
}
function vname(w) { return w == "medic" ? "medic" : "medic (max_concurrent_checks " substr(w, index(w, "=") + 1) ")" }
function vshort(w) { return w == "medic" ? "node defaults" : "max_concurrent_checks " substr(w, index(w, "=") + 1) }
# target_val: the figure target t measures for variant w ("-" when not measured).
function target_val(w, t,    g, b) {
    if (t == 1 || t == 3 || t == 9) g = best[w, 1000, "ka"]
    else if (t == 2 || t == 4 || t == 7 || t == 8 || t == 10) g = best[w, 10000, "ka"]
    else if (t == 5) g = best[w, 1000, "fresh"]
    else g = best[w, 1000, "ka"]
    if (g == "") return "-"
    if (t <= 2) return med(okcps, g)
    if (t <= 4) return ck["ka"] == "" ? "-" : div(med(okcps, g), med(okcps, ck["ka"]))
    if (t <= 6) return div(div(1000, med(cpu1k, g)), bbpc)
    if (t >= 9) return ck["ka"] == "" ? "-" : div(med(cpu1k, g), med(cpu1k, ck["ka"]))
    b = find("base", "ka")
    if (b == "") return "-"
    return t == 7 ? (med(hwm, g) - med(hwm, b)) * 1024 / 10000 : (med(hwms, g) - med(hwms, b)) * 1024 / 10000
}
END {
    bb = find("blackbox", "fresh"); bbpc = bb == "" ? "-" : div(1000, med(cpu1k, bb))
    ck["ka"] = find("ceiling", "ka"); ck["fresh"] = find("ceiling", "fresh")
    # The best interval of each medic configuration: the highest median ok checks/s it sustained
    # (median ok % >= 99); a configuration that sustained none gets its highest ok checks/s.
    nv = 0
    for (i = 1; i <= ngroups; i++) {
        split(order[i], p, SUBSEP)
        if (p[1] !~ /^medic/) continue
        if (!(p[1] in seenv)) { seenv[p[1]] = 1; variant[++nv] = p[1] }
        key = p[1] SUBSEP p[2] SUBSEP p[3]
        sus = med(okpct, order[i]) >= 99
        if (best[key] == "" || (sus && !bsus[key]) || (sus == bsus[key] && med(okcps, order[i]) > med(okcps, best[key]))) {
            best[key] = order[i]; bsus[key] = sus
        }
    }
    print "### Summary (each medic row: the interval with the most ok checks/s at >= 99% ok)"
    print ""
    header()
    split("1000 10000", ns, " "); split("ka fresh", ms, " ")
    for (v = 1; v <= nv; v++) for (mi = 1; mi <= 2; mi++) for (ni = 1; ni <= 2; ni++) {
        g = best[variant[v], ns[ni], ms[mi]]
        if (g == "") continue
        split(g, p, SUBSEP)
        row(sprintf("%s, %s services every %s ms, %s", vname(variant[v]), commas(ns[ni]), p[4], modename(ms[mi])), g,
            ck[ms[mi]], ns[ni], find("base", ms[mi]))
    }
    for (mi = 1; mi <= 2; mi++) if (ck[ms[mi]] != "") {
        split(ck[ms[mi]], p, SUBSEP)
        row(sprintf("curl_ceiling -c %s, %s", p[2], modename(ms[mi])), ck[ms[mi]], ck[ms[mi]], "", "")
    }
    if (bb != "") { split(bb, p, SUBSEP); row(sprintf("blackbox_exporter /probe, wrk -c%s (a new connection per probe)", p[2]), bb, "", "", "") }

    split(">= 20,000 ok checks/s with keep-alive, 1,000 services|>= 20,000 ok checks/s with keep-alive, 10,000 services|>= 85% of the ceiling with keep-alive, 1,000 services|>= 85% of the ceiling with keep-alive, 10,000 services|>= 10x blackbox's ok checks per CPU-s, both a new connection per check (1,000 services)|>= 10x blackbox's ok checks per CPU-s, medic with keep-alive (1,000 services)|< 2 KiB RSS per service at 10,000 services, keep-alive|the same, counting the peak of the /metrics and /v1/status scrapes|CPU per ok check <= 1.2x the ceiling's, keep-alive, 1,000 services|CPU per ok check <= 1.2x the ceiling's, keep-alive, 10,000 services", tname, "|")
    split("20000 20000 0.85 0.85 10 10 2048 2048 1.2 1.2", tlim, " ")
    split("%.0f %.0f %.2f %.2f %.1fx %.1fx %.0f_B %.0f_B %.2fx %.2fx", tfmt, " ")
    print ""
    print "### Targets"
    print ""
    line = "| target |"; sep = "|---|"
    for (v = 1; v <= nv; v++) { line = line " " vshort(variant[v]) " | |"; sep = sep "---:|---|" }
    print line; print sep
    for (t = 1; t <= 10; t++) {
        line = "| " tname[t] " |"
        for (v = 1; v <= nv; v++) {
            x = target_val(variant[v], t); fm = tfmt[t]; sub(/_/, " ", fm)
            line = line " " f(x, fm) " | " verdict(x, t <= 6 ? ">=" : t >= 9 ? "<=" : "<", tlim[t]) " |"
        }
        print line
    }

    print ""
    print "### Every medic interval (offered load = services / interval)"
    print ""
    header()
    for (i = 1; i <= ngroups; i++) {
        split(order[i], p, SUBSEP)
        if (p[1] !~ /^medic/) continue
        row(sprintf("%s, %s services every %s ms (%s/s offered), %s", vname(p[1]), commas(p[2]), p[4],
            commas(p[2] * 1000 / p[4]), modename(p[3])), order[i], ck[p[3]], p[2], find("base", p[3]))
    }
}
