"""Classify a mesh with an exported CNN and onnxruntime alone, from its views in a feature folder.

    shapeclf export models/cnn --onnx cnn.onnx
    python examples/onnx_classify.py cnn.onnx features/views/mug/test/mug_0001.off.png
"""
import json, sys
import numpy as np, onnxruntime as ort
from PIL import Image

session = ort.InferenceSession(sys.argv[1])
meta = session.get_modelmeta().custom_metadata_map
t, classes = json.loads(meta["view_tiles"]), json.loads(meta["classes"])
r, cols, n, ch = t["resolution"], t["grid_columns"], t["count"], t["channels"]
img = np.asarray(Image.open(sys.argv[2]), dtype=np.float32) / 255  # one grid per channel, stacked
views = img.reshape(ch, -1, r, cols, r).transpose(1, 3, 0, 2, 4).reshape(-1, ch, r, r)[:n]
(p,) = session.run(["probabilities"], {"views": views.reshape(1, n * ch, r, r)})
print(classes[int(p[0].argmax())], float(p[0].max()))
