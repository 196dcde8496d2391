import json,sys,glob,statistics as st
rows={'silent->held':[],'held->assigned':[],'persist_ms':[],'silent->persisted':[],'silent->assigned':[]}
for f in glob.glob(sys.argv[1]+'/agent-*.log'):
    ev=[]
    for line in open(f):
        if not line.startswith('{'): continue
        try: j=json.loads(line)
        except: continue
        ev.append(j)
    silent=None;held=None
    for j in ev:
        e=j.get('event')
        if e=='primary-silent': silent=j['atUs']; held=None
        elif e=='persisted' and silent is not None and 'claiming' in str(j.get('message','')) or (e=='persisted' and silent is not None and held is None):
            rows['persist_ms'].append(j.get('ms')); rows['silent->persisted'].append((j['atUs']-silent)/1000)
        elif e=='lease-held' and silent is not None:
            held=j['atUs']; rows['silent->held'].append((held-silent)/1000)
        elif e=='address-assigned' and held is not None and silent is not None:
            rows['held->assigned'].append((j['atUs']-held)/1000); rows['silent->assigned'].append((j['atUs']-silent)/1000); silent=None; held=None
for k,v in rows.items():
    v=[x for x in v if x is not None]
    if v: print(k,'n',len(v),'median %.2f'%st.median(v),'min %.2f max %.2f'%(min(v),max(v)))
