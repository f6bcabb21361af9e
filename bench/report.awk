# bench/report.awk - the table and the same-run ratios of one harness run.
#
# usage: awk -f bench/report.awk RUNS.tsv MEM.tsv NOTES.tsv   (bench/harness.sh calls it)
#   RUNS.tsv   one row per timed run: server load round msgs secs msgs_per_s
#              server_cpu_s settle_s ovfl rc (a header line first)
#   MEM.tsv    server load procs rss_kB pss_kB, read after the rounds
#   NOTES.tsv  server load SKIP|FAIL|note text
# Only runs whose smtp-source exited 0 count.  A ratio smtpgate* / peer is
# taken per round (both ran within seconds of each other), then the median
# of the rounds is shown; it never divides figures from different rounds.
BEGIN { FS = OFS = "\t" }

FILENAME == ARGV[1] && FNR == 1 { next }
FILENAME == ARGV[1] && $10 == 0 {
	k = $1 SUBSEP $2
	if (!(k in runs)) { order[++ncells] = k }
	runs[k]++
	msgs[k] = $4
	secs[k, runs[k]] = $5; rate[k, runs[k]] = $6
	cpu_us[k, runs[k]] = $7 * 1e6 / $4; settle[k, runs[k]] = $8
	ovfl[k] += $9
	rate_in[$1, $2, $3] = $6; cpu_in[$1, $2, $3] = $7 * 1e6 / $4
	if ($3 > maxround) maxround = $3
	if (!($2 in load_at)) { load_at[$2] = ++nloads; loads[nloads] = $2 }
	if (!($1 in server_at)) { server_at[$1] = ++nservers; servers[nservers] = $1 }
	next
}
FILENAME == ARGV[2] { procs[$1, $2] = $3; rss[$1, $2] = $4 / 1024; pss[$1, $2] = $5 / 1024; next }
FILENAME == ARGV[3] { notes[++nnotes] = $0; next }

# median of v[1..n] (v is sorted in place)
function median(v, n,   i, j, x) {
	for (i = 2; i <= n; i++) {
		x = v[i]
		for (j = i - 1; j >= 1 && v[j] > x; j--) v[j + 1] = v[j]
		v[j + 1] = x
	}
	return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}

function column(src, k, n, dst,   i) {
	for (i = 1; i <= n; i++) dst[i] = src[k, i]
}

# target(ours, peer, load): the goal an issue set for this ratio, "" if none
function target(g, p, l) {
	if (l != "L2") return ""
	if (g == "smtpgate" && p == "pysmtpd-discard") return ">= 10"
	if ((g == "smtpgate" || g == "smtpgate-proxy") && p == "smtp-sink") return ">= 0.5"
	if (g == "smtpgate-maildir" && p == "postfix-maildir") return ">= 3"
	return ""
}

function table(   fmt, c, k, n, s, r, cu, st, lo, hi, i, split_k, f) {
	fmt = "| %-16s | %-4s | %6s | %6s | %7s | %7s | %-13s | %10s | %8s | %7s | %7s | %5s | %4s |\n"
	printf fmt, "server", "load", "msgs", "rounds", "secs", "msg/s", "msg/s min-max", "cpu us/msg",
		"settle s", "RSS MiB", "PSS MiB", "procs", "ovfl"
	printf fmt, "----------------", "----", "------", "------", "-------", "-------", "-------------",
		"----------", "--------", "-------", "-------", "-----", "----"
	for (c = 1; c <= ncells; c++) {
		k = order[c]; n = runs[k]; split(k, split_k, SUBSEP)
		column(secs, k, n, s); column(cpu_us, k, n, cu); column(settle, k, n, st); column(rate, k, n, r)
		lo = hi = r[1]
		for (i = 2; i <= n; i++) { if (r[i] < lo) lo = r[i]; if (r[i] > hi) hi = r[i] }
		printf fmt, split_k[1], split_k[2], msgs[k], n, sprintf("%.3f", median(s, n)),
			sprintf("%.0f", msgs[k] / median(s, n)), sprintf("%.0f-%.0f", lo, hi),
			sprintf("%.0f", median(cu, n)), sprintf("%.2f", median(st, n)),
			(k in rss) ? sprintf("%.1f", rss[k]) : "-", (k in pss) ? sprintf("%.1f", pss[k]) : "-",
			(k in procs) ? procs[k] : "-", ovfl[k]
	}
	for (i = 1; i <= nnotes; i++) {
		split(notes[i], f, "\t")
		printf "| %-16s | %-4s | %s: %s\n", f[1], f[2], f[3], f[4]
	}
}

function ratios(   li, gi, pi, l, g, p, r, n, nc, rr, cr, lo, hi, t, any, cpu_x) {
	print ""
	print "ratios smtpgate* / peer, per round then the median over rounds (min-max):"
	print "  msg/s x = smtpgate's rate / the peer's; cpu x = the peer's cpu us/msg / smtpgate's (higher: smtpgate cheaper)"
	for (li = 1; li <= nloads; li++) for (gi = 1; gi <= nservers; gi++) for (pi = 1; pi <= nservers; pi++) {
		l = loads[li]; g = servers[gi]; p = servers[pi]
		if (g !~ /^smtpgate/ || p ~ /^smtpgate/) continue
		n = nc = 0
		for (r = 1; r <= maxround; r++) {
			if (!((g, l, r) in rate_in) || !((p, l, r) in rate_in)) continue
			rr[++n] = rate_in[g, l, r] / rate_in[p, l, r]
			# a run too short for one clock tick of either server has no cpu ratio
			if (cpu_in[g, l, r] > 0 && cpu_in[p, l, r] > 0) cr[++nc] = cpu_in[p, l, r] / cpu_in[g, l, r]
		}
		if (n == 0) continue
		median(rr, n); lo = rr[1]; hi = rr[n]
		cpu_x = nc ? sprintf("x%.2f", median(cr, nc)) : "n/a"
		t = target(g, p, l)
		printf "  %-4s %-16s / %-16s msg/s x%.2f (%.2f-%.2f, %d rounds)  cpu %s%s\n",
			l, g, p, median(rr, n), lo, hi, n, cpu_x, (t != "") ? "   target " t : ""
		any = 1
	}
	if (!any) print "  (none: name a smtpgate cell and a peer)"
}

function legend() {
	print "secs: median wall time of the smtp-source runs; msg/s = msgs / median secs; cpu us/msg: median"
	print "CPU (user+system, every process of the server) from a run's start to the end of its settle step"
	print "(e.g. Postfix's deliveries after its 250s); settle s: the untimed wait after each run; RSS/PSS:"
	print "summed VmHWM/Pss of the server's live processes after the rounds; ovfl: TCP listen-queue"
	print "overflows during its runs (each a SYN the client retries after 1 s, 3 s, ...)."
	print ""
}

END { legend(); table(); ratios() }
