import pyarrow as pa, pyarrow.csv as pc, numpy as np, sys
n=int(sys.argv[1]); k=int(sys.argv[2])
t=pc.read_csv(f"/tmp/hG/d100000/new_changes.csv", read_options=pc.ReadOptions(column_names=None)).slice(0,n)
# write plain (unquoted) CSV manually
import pandas as pd
df=t.to_pandas()
base=open("/tmp/hG/d100000/new_changes.csv").read().split("\n")
hdr=base[0]+","+",".join(f"p{j}" for j in range(k))
rng=np.random.default_rng(3)
vals=rng.integers(0,100000,size=(n,k)).astype(str)
with open(f"/tmp/hG/wide{k}_{n}.csv","w") as f:
    f.write(hdr+"\n")
    for i in range(n):
        f.write(base[i+1]+","+",".join(vals[i])+"\n")
