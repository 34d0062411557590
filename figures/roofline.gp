# roofline.gp: achieved fraction of the memory-bandwidth floor for batch-1 decode by variant:
# (bytes one decode step must read / measured bandwidth) / measured time per token.
# Input: the roofline table (model, variant, device, threads, frac).
load 'figures/style.gp'
series = system("awk -F'\t' '!/^#/ && $1!=\"model\" {print $1\":\"$3\":\"$4}' ".in." | awk '!s[$0]++' | tr '\\n' ' '")
used   = uniq(in, "variant")
uidx(v) = sum [i=1:words(used)] (word(used, i) eq v ? i : 0)
nser = words(series)
bw = 0.8 / nser
set style fill solid 0.85 border lc rgb "#333333"
set boxwidth bw absolute
set xtics rotate by 35 right
set xtics ()
do for [i = 1:words(used)] { set xtics add (word(used, i) i) }
set xrange [0.4:words(used)+0.6]
set yrange [0:*]
set offsets 0, 0, graph 0.22, 0 # room above the tallest bar for its rotated label (a cache-resident model can exceed 1)
set ytics 0.2
set ylabel "fraction of bandwidth floor"
set title "Decode speed against the memory roofline (1.0 = every weight byte read at measured bandwidth)"
set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lc rgb "#888888"
plot for [s = 1:nser] in using (uidx(strcol("variant")) - 0.4 + bw * (s - 0.5)): \
       ((strcol("model").":".strcol("device").":".strcol("threads")) eq word(series, s) ? column("frac") : NaN):(vrgb(strcol("variant"))) \
       with boxes lc rgb variable, \
     for [s = 1:nser] in using (uidx(strcol("variant")) - 0.4 + bw * (s - 0.5)): \
       ((strcol("model").":".strcol("device").":".strcol("threads")) eq word(series, s) ? column("frac") : NaN):(word(series, s)) \
       with labels nopoint rotate by 90 left offset 0,0.4 font ",7" textcolor rgb "#444444"
