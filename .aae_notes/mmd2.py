import aespec, torch, sys
def mmd(a, b, scale=1.0):
    def k(x, y): return torch.exp(-torch.cdist(x, y) ** 2 / (2 * scale ** 2 * x.shape[1]))
    return float(k(a, a).mean() + k(b, b).mean() - 2 * k(a, b).mean())
name = sys.argv[1]
r = aespec.train(f"/tmp/{name}.ae", out=f"/tmp/mmd_{name}", quiet=True, report=False)
run = aespec.train.load_run(r.run_dir); d = run.data()
z = r.model.encode(d.test.x[:500]).detach()
torch.manual_seed(0); prior = torch.randn_like(z); p2 = torch.randn_like(z)
print(name, mmd(z, prior), mmd(p2, prior), float(z.mean()), float(z.std()), r.test.get("loss"))
