# Summarise `go test -bench` output: median, min and max of every custom
# metric per benchmark, over all -count rounds.
#   go test ./bpf -run '^$' -bench Extractor -count 10 | awk -f scripts/bench/median.awk
/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	for (i = 3; i < NF; i++) if ($(i+1) !~ /^ns\/op$/ && $(i+1) ~ /\//) {
		key = name " " $(i+1); n[key]++; v[key, n[key]] = $i
		if (!(key in seen)) { seen[key] = 1; order[++k] = key }
	}
}
END {
	for (j = 1; j <= k; j++) {
		key = order[j]; m = n[key]
		for (a = 1; a <= m; a++) s[a] = v[key, a]
		for (a = 1; a <= m; a++) for (b = a + 1; b <= m; b++) if (s[b] < s[a]) { t = s[a]; s[a] = s[b]; s[b] = t }
		med = (m % 2) ? s[(m + 1) / 2] : (s[m / 2] + s[m / 2 + 1]) / 2
		printf "%-40s %-8s median %8.1f  min %8.1f  max %8.1f  (n=%d)\n", substr(key, 1, index(key, " ") - 1), substr(key, index(key, " ") + 1), med, s[1], s[m], m
	}
}
