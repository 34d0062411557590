# quality.gp: the quality-size trade-off. Perplexity (left) and KL-divergence from the f32 logits
# (right) against bits per weight, one point per variant and text; the Pareto front (no variant
# both smaller and better) is drawn as a line. Input: the quality table (model, variant, text,
# ppl, kl, bpw, ...).
load 'figures/style.gp'
texts = uniq(in, "text")
# Pareto front of (bpw, metric) for one text, via awk: sort by bpw, keep strictly improving points.
front(t, col) = sprintf("< awk -F'\t' -v t='%s' -v c='%s' 'NR==1||/^#/{if(!/^#/)for(i=1;i<=NF;i++)h[$i]=i;next} $h[\"text\"]==t && $h[c]!=\"\" {print $h[\"bpw\"]\"\t\"$h[c]}' %s | sort -g -k1,1 -k2,2 | awk -F'\t' 'BEGIN{b=1e300} $2<b{b=$2; print}'", t, col, in)
unset key # the title names the dashed line
set xlabel "bits per weight"
set multiplot layout words(texts), 2 title "Quality vs size (Pareto front dashed)"
do for [k = 1:words(texts)] {
    t = word(texts, k)
    # Perplexity on a linear axis fitted to the points: the variants differ by a few per cent,
    # which a log axis spanning a decade would flatten.
    unset logscale y
    set autoscale yfix
    set offsets 0, 0, graph 0.15, graph 0.1
    set title t." — perplexity"
    set ylabel "perplexity"
    plot front(t, "ppl") using 1:2 with lines dt 2 lc rgb "#888888" notitle, \
         in using (strcol("text") eq t ? column("bpw") : NaN):"ppl":(vrgb(strcol("variant"))) with points pt 7 ps 1.3 lc rgb variable, \
         '' using (strcol("text") eq t ? column("bpw") : NaN):"ppl":"variant" with labels nopoint offset 0.6,0.6 left font ",8"
    set logscale y
    set autoscale y
    set offsets 0, 0, 0, 0
    set title t." — KL-divergence from f32 (nats/token)"
    set ylabel "KL (nats/token)"
    plot front(t, "kl") using 1:2 with lines dt 2 lc rgb "#888888" notitle, \
         in using (strcol("text") eq t && column("kl") > 0 ? column("bpw") : NaN):"kl":(vrgb(strcol("variant"))) with points pt 7 ps 1.3 lc rgb variable, \
         '' using (strcol("text") eq t && column("kl") > 0 ? column("bpw") : NaN):"kl":"variant" with labels nopoint offset 0.6,0.6 left font ",8"
}
unset multiplot
