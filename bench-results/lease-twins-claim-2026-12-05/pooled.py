# The L 20 twins rows at 5eef673 together: medians, p95 and a one-sided Mann-Whitney test
# (normal approximation, ties ranked by their mean) of ours against keepalived's, from each
# row's latest.json. Run from this directory: python3 pooled.py
import json, math, statistics as st
ROWS = ['l20-twins-5eef673', 'l20-twins-stress-5eef673', 'l20-twins-5eef673-b', 'l20-twins-stress-5eef673-b']
ours, theirs = [], []
for row in ROWS:
    for c in json.load(open(f'{row}/latest.json'))['failover']['configurations']:
        xs = [r['outageMs'] for r in c['runs'] if r.get('outageMs') is not None]
        (ours if c['name'] == 'hotspare-lease' else theirs).extend(xs)
p95 = lambda xs: sorted(xs)[math.ceil(0.95 * len(xs)) - 1]
print(f'ours n {len(ours)} median {st.median(ours):.2f} p95 {p95(ours):.2f}')
print(f'keepalived n {len(theirs)} median {st.median(theirs):.2f} p95 {p95(theirs):.2f}')
pairs = sorted([(v, 0) for v in ours] + [(v, 1) for v in theirs])
ranks, i = [0.0] * len(pairs), 0
while i < len(pairs):
    j = i
    while j + 1 < len(pairs) and pairs[j + 1][0] == pairs[i][0]:
        j += 1
    for t in range(i, j + 1):
        ranks[t] = (i + j) / 2 + 1
    i = j + 1
n1, n2 = len(ours), len(theirs)
u = sum(r for r, (_, side) in zip(ranks, pairs) if side == 0) - n1 * (n1 + 1) / 2
z = (u - n1 * n2 / 2) / math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12)
print(f'Mann-Whitney U {u:.1f}, z {z:.2f}, one-sided p (ours the smaller) {0.5 * math.erfc(-z / math.sqrt(2)):.4f}')
print(f'a random crash of ours is the longer of a pair {u / (n1 * n2):.3f} of the time')
