"""Stall probe for a virtual CPU: sleeps 1 ms at a time for DURATION_S seconds and reports
every gap over 5 ms (over 20 ms listed). Run pinned and real-time, one per CPU:
    taskset -c N chrt -f 50 python3 vcpu-stalls.py DURATION_S N
A gap of a SCHED_FIFO 50 sleeper is time its CPU did not run it: a higher real-time task,
or the virtual CPU itself not running."""
import time,sys
dur=float(sys.argv[1]); gaps=[]
end=time.monotonic()+dur; last=time.monotonic()
while True:
    time.sleep(0.001)
    now=time.monotonic()
    g=(now-last)*1000
    if g>5: gaps.append((round(now,3),round(g,1)))
    last=now
    if now>end: break
big=[x for x in gaps if x[1]>20]
print('cpu',sys.argv[2],'gaps>5ms',len(gaps),'gaps>20ms',len(big),'max',max([x[1] for x in gaps],default=0), big[:10])
