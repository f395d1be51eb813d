print("edge-run")
