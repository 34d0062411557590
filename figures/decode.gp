# decode.gp: decode tokens/s by variant, one panel per model, bars grouped by device x threads,
# error bars = standard deviation over repeats. Input: the speed table (one row per model x
# variant x device x threads x new_tokens); `ntok` picks the token count shown.
load 'figures/style.gp'
if (!exists("ntok")) ntok = 128
models  = uniq(in, "model")
series  = system("awk -F'\t' '!/^#/ && $1!=\"model\" {print $3\":\"$4}' ".in." | awk '!s[$0]++' | tr '\\n' ' '")
used    = uniq(in, "variant")
nser = words(series)
uidx(v) = sum [i=1:words(used)] (word(used, i) eq v ? i : 0)
bw = 0.8 / nser
set style fill solid 0.85 border lc rgb "#333333"
set boxwidth bw absolute
set xtics rotate by 35 right
set xrange [0.4:words(used)+0.6]
set yrange [0:*]
set ylabel "decode tokens/s"
set multiplot layout 1, words(models) title sprintf("Decode throughput, %d new tokens (mean ± std over repeats)", ntok)
do for [m = 1:words(models)] {
    mod = word(models, m)
    set title mod
    set xtics () 
    do for [i = 1:words(used)] { set xtics add (word(used, i) i) }
    plot for [s = 1:nser] in using \
        (uidx(strcol("variant")) - 0.4 + bw * (s - 0.5)) : \
        ((strcol("model") eq mod && strcol("device").":".strcol("threads") eq word(series, s) && column("new_tokens") == ntok) ? column("decode_tok_s") : NaN) : \
        (vrgb(strcol("variant"))) with boxes lc rgb variable, \
      for [s = 1:nser] in using \
        (uidx(strcol("variant")) - 0.4 + bw * (s - 0.5)) : \
        ((strcol("model") eq mod && strcol("device").":".strcol("threads") eq word(series, s) && column("new_tokens") == ntok) ? column("decode_tok_s") : NaN) : \
        "decode_tok_s_std" with yerrorbars lc rgb "#333333" pt 0 ps 0 lw 0.8, \
      for [s = 1:nser] in using \
        (uidx(strcol("variant")) - 0.4 + bw * (s - 0.5)) : \
        ((strcol("model") eq mod && strcol("device").":".strcol("threads") eq word(series, s) && column("new_tokens") == ntok) ? column("decode_tok_s") : NaN) : \
        (word(series, s)) with labels nopoint rotate by 90 left offset 0,0.4 font ",8" textcolor rgb "#444444"
}
unset multiplot
