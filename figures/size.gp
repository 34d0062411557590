# size.gp: model file size on disk (MB, left) and bits per weight (right) by variant, one bar
# group per model. Input: the size table (model, variant, file_mb, bpw).
load 'figures/style.gp'
models = uniq(in, "model")
used   = uniq(in, "variant")
uidx(v) = sum [i=1:words(used)] (word(used, i) eq v ? i : 0)
set style fill solid 0.85 border lc rgb "#333333"
set boxwidth 0.7 absolute
set xtics rotate by 35 right
set xrange [0.4:words(used)+0.6]
set yrange [0:*]
set multiplot layout 1, words(models) + 1 title "Model size by variant"
do for [m = 1:words(models)] {
    mod = word(models, m)
    set title mod." (file size)"
    set ylabel "MB on disk"
    set xtics ()
    do for [i = 1:words(used)] { set xtics add (word(used, i) i) }
    plot in using (uidx(strcol("variant"))):(strcol("model") eq mod ? column("file_mb") : NaN):(vrgb(strcol("variant"))) \
         with boxes lc rgb variable, \
         '' using (uidx(strcol("variant"))):(strcol("model") eq mod ? column("file_mb") : NaN):(sprintf("%.0f", column("file_mb"))) \
         with labels nopoint offset 0,0.6 font ",8"
}
set title "bits per weight (all tensors)"
set ylabel "bits/weight"
plot in using (uidx(strcol("variant"))):(strcol("model") eq word(models, 1) ? column("bpw") : NaN):(vrgb(strcol("variant"))) \
     with boxes lc rgb variable, \
     '' using (uidx(strcol("variant"))):(strcol("model") eq word(models, 1) ? column("bpw") : NaN):(sprintf("%.2f", column("bpw"))) \
     with labels nopoint offset 0,0.6 font ",8"
unset multiplot
