# memory.gp: peak and 90th-percentile resident memory (CPU runs) and peak GPU memory (CUDA runs)
# by variant, per model. Input: the speed table (rss_peak_mb, rss_p90_mb, gpu_peak_mb).
load 'figures/style.gp'
if (!exists("ntok")) ntok = 128
models = uniq(in, "model")
used   = uniq(in, "variant")
uidx(v) = sum [i=1:words(used)] (word(used, i) eq v ? i : 0)
set style fill solid 0.85 border lc rgb "#333333"
set xtics rotate by 35 right
set xrange [0.4:words(used)+0.6]
set yrange [0:*]
set ylabel "MB"
set key top right
set multiplot layout 1, words(models) title sprintf("Memory by variant (%d new tokens, 1 thread / GPU)", ntok)
do for [m = 1:words(models)] {
    mod = word(models, m)
    set title mod
    set xtics ()
    do for [i = 1:words(used)] { set xtics add (word(used, i) i) }
    sel(d) = (strcol("model") eq mod && strcol("device") eq d && column("threads") == 1 && column("new_tokens") == ntok)
    set boxwidth 0.26 absolute
    plot in using (uidx(strcol("variant")) - 0.27):(sel("cpu") ? column("rss_peak_mb") : NaN):(vrgb(strcol("variant"))) with boxes lc rgb variable, \
         '' using (uidx(strcol("variant"))):(sel("cpu") ? column("rss_p90_mb") : NaN):(vrgb(strcol("variant"))) with boxes fs pattern 4 lc rgb variable, \
         '' using (uidx(strcol("variant")) + 0.27):(sel("cuda") ? column("gpu_peak_mb") : NaN):(vrgb(strcol("variant"))) with boxes fs pattern 2 lc rgb variable, \
         NaN with boxes fs solid 0.85 lc rgb "#777777" title "peak RSS", \
         NaN with boxes fs pattern 4 lc rgb "#777777" title "p90 RSS", \
         NaN with boxes fs pattern 2 lc rgb "#777777" title "peak VRAM (cuda)"
}
unset multiplot
