# style.gp: what every qbench figure shares: fonts, one colour per variant (the same in every
# figure), the variant order, and helpers to find a variant's slot. Loaded by each figure script,
# which is called as: gnuplot -e "in='TABLE.tsv'; out='figures/NAME'; fmt='png'" figures/NAME.gp
if (!exists("fmt")) fmt = 'png'
if (fmt eq 'pdf') {
    set terminal pdfcairo noenhanced font "Helvetica,9" size 6in,3.2in linewidth 1
    set output out.'.pdf'
} else {
    set terminal pngcairo noenhanced font "Helvetica,11" size 1100,600 linewidth 1.2
    set output out.'.png'
}
set datafile separator "\t"
set datafile commentschars "#"
set datafile missing ""
set border 3 lw 0.8
set tics nomirror out scale 0.6
set grid ytics lw 0.5 lc rgb "#dddddd"
set key noautotitle top left samplen 1.5 spacing 1.1 nobox

# Variants in the order the paper lists them, and their colours (Okabe-Ito + greys: safe for
# colour-blind readers and in print).
variants = "f32 f16 bf16 int8-dyn int8-all int8-static q8_0 q4_0 q4_1 q4_k q6_k iq4_nl mixed"
colors   = "#000000 #E69F00 #F0C060 #56B4E9 #0072B2 #004070 #3399CC #009E73 #66C2A5 #D55E00 #CC79A7 #7F3C8D #999999"
vidx(v) = sum [i=1:words(variants)] (word(variants, i) eq v ? i : 0)
vcolor(v) = (vidx(v) > 0 ? word(colors, vidx(v)) : "#777777")
# Colour as a number for "lc rgb variable".
hex(c) = int("0x".c[2:3]) * 65536 + int("0x".c[4:5]) * 256 + int("0x".c[6:7])
vrgb(v) = hex(vcolor(v))
# The distinct values of the column named col in file f, in first-appearance order, as a word list.
uniq(f, col) = system(sprintf("awk -F'\t' '/^#/ {next} !h++ {for (i = 1; i <= NF; i++) if ($i == \"%s\") c = i; next} c && !s[$c]++ {print $c}' %s | tr '\\n' ' '", col, f))
# A standard deviation column that is empty for a single repeat counts as 0 (no error bar).
sd(col) = (strcol(col) eq "" ? 0 : column(col))
