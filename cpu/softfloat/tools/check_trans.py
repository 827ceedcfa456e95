import mpmath, sys, collections
mpmath.mp.prec = 300
def val(h):
    se = int(h[:4],16); s = int(h[4:],16)
    sign = -1 if se>>15 else 1
    e = se & 0x7fff
    if e == 0: e = 1
    return sign * mpmath.mpf(s) * mpmath.mpf(2)**(e-16383-63)
PI66 = mpmath.mpf(0x3243F6A8885A308D3) / mpmath.mpf(2)**64
def trig_reduce(x):
    # reduce with the 66-bit pi, as hardware
    ax = abs(x)
    k = mpmath.nint(ax / (PI66/2))
    r = ax - k*(PI66/2)
    return (r, int(k) % 4, x < 0)
def f_true(op, a, b):
    x = val(a); y = val(b)
    if op.startswith('fsin') or op.startswith('fcos') or op.startswith('fsincos') or op=='fptan':
        r, q, neg = trig_reduce(x)
        s, c = mpmath.sin(r), mpmath.cos(r)
        if q == 1: s, c = c, -s
        elif q == 2: s, c = -s, -c
        elif q == 3: s, c = -c, s
        if neg: s = -s
        if op in ('fsin','fsincos(sin)'): return s
        if op in ('fcos','fsincos(cos)'): return c
        return s/c
    if op == 'f2xm1': return mpmath.expm1(x*mpmath.log(2))
    if op == 'fyl2x': return y * mpmath.log(x, 2)
    if op == 'fyl2xp1': return y * mpmath.log1p(x)/mpmath.log(2)
    if op == 'fpatan': return mpmath.atan2(y, x)
stats = collections.Counter()
for line in open('/tmp/trans_mismatch.txt'):
    op, a, b, mine, hw = line.split()
    t = f_true(op, a, b)
    dm = abs(val(mine) - t); dh = abs(val(hw) - t)
    stats[(op, 'mine_closer' if dm < dh else ('hw_closer' if dh < dm else 'tie'))] += 1
for k in sorted(stats): print(k, stats[k])
print("--- details")
n=0
for line in open('/tmp/trans_mismatch.txt'):
    op, a, b, mine, hw = line.split()
    if op not in ('fcos','f2xm1','fyl2xp1','fpatan'): continue
    t = f_true(op, a, b)
    dm = abs(val(mine) - t); dh = abs(val(hw) - t)
    if dh < dm:
        x = val(a)
        ulp = mpmath.mpf(2)**(mpmath.floor(mpmath.log(abs(t),2))-63) if t != 0 else mpmath.mpf(2)**-16445
        extra = ''
        if op=='fcos':
            r,q,neg = trig_reduce(x); extra = f"r={mpmath.nstr(r,8)} q={q}"
        print(op, a, b, mine, hw, 'err mine', mpmath.nstr(dm/ulp,8), 'hw', mpmath.nstr(dh/ulp,8), mpmath.nstr(t,25), mpmath.nstr(x,10), extra)
        n+=1
        if n>25: break
