# memtime.gp: resident memory over time of one run per variant, from sample-res series files.
# Input: in = a TSV with columns variant and path (one series file per variant).
load 'figures/style.gp'
n = int(system("awk -F'\t' '!/^#/ && $1!=\"variant\"' ".in." | wc -l"))
v(i) = system(sprintf("awk -F'\t' '!/^#/ && $1!=\"variant\"' %s | sed -n '%dp' | cut -f1", in, i))
p(i) = system(sprintf("awk -F'\t' '!/^#/ && $1!=\"variant\"' %s | sed -n '%dp' | cut -f2", in, i))
if (!exists("ttl")) ttl = "Resident memory over one generate run"
set title ttl
set key outside right top
set xlabel "time since start (s)"
set ylabel "RSS (MB)"
set yrange [0:*]
plot for [i = 1:n] p(i) using "t_s":"rss_mb" with steps lw 1.5 lc rgb vcolor(v(i)) title v(i)
