# scaling.gp: decode speed-up of each variant over f32 across model sizes (parameters), one
# line per variant and device: the "does quantization pay off more for bigger models" question.
# Input: the scaling table (model, params_m, variant, device, ratio).
load 'figures/style.gp'
used = uniq(in, "variant")
devs = uniq(in, "device")
set logscale x
set xlabel "parameters (millions)"
set ylabel "decode tokens/s ÷ f32 tokens/s"
set key outside right top
set title "Speed-up over f32 across model sizes"
set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lc rgb "#888888"
plot for [d = 1:words(devs)] for [i = 1:words(used)] \
       sprintf("< awk -F'\t' 'NR==1||($3==\"%s\" && $4==\"%s\")' %s | sort -t'\t' -k2,2g", word(used, i), word(devs, d), in) \
       using "params_m":"ratio" with linespoints lw 1.5 pt (d == 1 ? 7 : 5) ps 0.8 dt d lc rgb vcolor(word(used, i)) \
       title word(used, i)." (".word(devs, d).")"
