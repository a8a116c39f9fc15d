#!/usr/bin/env python3
"""Writes the glTF files of tests/awkward/: the unit tetrahedron of the other awkward files, laid
out the way Blender, three.js's GLTFExporter, trimesh, the Khronos tutorial and a strip optimiser
write glTF. Only similarity transforms are used (rotation, uniform scale, translation, the Blender
+Z-up to +Y-up swap), so every file normalises to the plain tetrahedron.

    python3 scripts/make_awkward_gltf.py tests/awkward
"""

import base64
import json
import math
import struct
import sys
from pathlib import Path

TET = [(0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)]
FACES = [(0, 2, 1), (0, 1, 3), (0, 3, 2), (1, 2, 3)]


def f32s(vals):
    return struct.pack("<%df" % len(vals), *vals)


def normal(a, b, c):
    u = [b[k] - a[k] for k in range(3)]
    w = [c[k] - a[k] for k in range(3)]
    n = [u[1] * w[2] - u[2] * w[1], u[2] * w[0] - u[0] * w[2], u[0] * w[1] - u[1] * w[0]]
    s = math.sqrt(sum(x * x for x in n))
    return [x / s for x in n]


def bounds(points):
    return [min(p[k] for p in points) for k in range(3)], [max(p[k] for p in points) for k in range(3)]


def pad(b, fill):
    return b + fill * ((4 - len(b) % 4) % 4)


def glb(doc, bin_):
    j = pad(json.dumps(doc, separators=(",", ":")).encode(), b" ")
    b = pad(bin_, b"\0")
    total = 12 + 8 + len(j) + 8 + len(b)
    return (
        b"glTF"
        + struct.pack("<III", 2, total, len(j))
        + b"JSON"
        + j
        + struct.pack("<I", len(b))
        + b"BIN\0"
        + b
    )


def blender(out):
    """Blender 4.x: GLB, +Y up (vertices swapped from +Z up), a parent empty, vertices split per
    face with NORMAL and TEXCOORD_0, u16 indices, one bufferView per attribute, a material."""
    yup = [(x, z, -y) for (x, y, z) in TET]
    pos, nor, uv = [], [], []
    for f in FACES:
        n = normal(*[yup[i] for i in f])
        for k, i in enumerate(f):
            pos.append(yup[i])
            nor.append(n)
            uv.append((k * 0.5, 1.0 - k * 0.5))
    idx = list(range(12))
    pb = f32s([c for p in pos for c in p])
    nb = f32s([c for p in nor for c in p])
    ub = f32s([c for p in uv for c in p])
    ib = pad(struct.pack("<12H", *idx), b"\0")
    lo, hi = bounds(pos)
    views, off = [], 0
    for b, target in [(pb, 34962), (nb, 34962), (ub, 34962), (ib, 34963)]:
        views.append({"buffer": 0, "byteLength": len(b), "byteOffset": off, "target": target})
        off += len(b)
    views[3]["byteLength"] = 24
    doc = {
        "asset": {"generator": "Khronos glTF Blender I/O v4.1.63", "version": "2.0"},
        "scene": 0,
        "scenes": [{"name": "Scene", "nodes": [1]}],
        "nodes": [
            {"mesh": 0, "name": "Tetra", "scale": [0.5, 0.5, 0.5], "translation": [0, 0.25, 0]},
            {
                "children": [0],
                "name": "Empty",
                "rotation": [0, 0.3826834261417389, 0, 0.9238795042037964],
                "translation": [1.5, 0, -2],
            },
        ],
        "materials": [
            {
                "doubleSided": True,
                "name": "Material",
                "pbrMetallicRoughness": {
                    "baseColorFactor": [0.8, 0.8, 0.8, 1],
                    "metallicFactor": 0,
                    "roughnessFactor": 0.5,
                },
            }
        ],
        "meshes": [
            {
                "name": "Tetra",
                "primitives": [
                    {
                        "attributes": {"POSITION": 0, "NORMAL": 1, "TEXCOORD_0": 2},
                        "indices": 3,
                        "material": 0,
                    }
                ],
            }
        ],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": 12, "max": hi, "min": lo, "type": "VEC3"},
            {"bufferView": 1, "componentType": 5126, "count": 12, "type": "VEC3"},
            {"bufferView": 2, "componentType": 5126, "count": 12, "type": "VEC2"},
            {"bufferView": 3, "componentType": 5123, "count": 12, "type": "SCALAR"},
        ],
        "bufferViews": views,
        "buffers": [{"byteLength": off}],
    }
    (out / "blender.glb").write_bytes(glb(doc, pb + nb + ub + ib))


def data_uri(b, mime="application/octet-stream"):
    return "data:%s;base64,%s" % (mime, base64.b64encode(b).decode())


def threejs_interleaved(out):
    """three.js GLTFExporter: .gltf with a data-URI buffer, POSITION and NORMAL interleaved in one
    bufferView (byteStride 24), u16 indices, a column-major `matrix` (its default), a scene root."""
    c = [sum(p[k] for p in TET) / 4 for k in range(3)]
    inter = b""
    for p in TET:
        n = [p[k] - c[k] for k in range(3)]
        s = math.sqrt(sum(x * x for x in n))
        inter += f32s(list(p) + [x / s for x in n])
    ib = struct.pack("<12H", *[i for f in FACES for i in f])
    buf = inter + ib
    # Scale 2, a quarter turn about y, then a move: column-major.
    matrix = [0, 0, -2, 0, 0, 2, 0, 0, 2, 0, 0, 0, 0.5, -1, 3, 1]
    lo, hi = bounds(TET)
    doc = {
        "asset": {"version": "2.0", "generator": "THREE.GLTFExporter r160"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"name": "Scene", "children": [1]}, {"name": "tetra", "mesh": 0, "matrix": matrix}],
        "bufferViews": [
            {"buffer": 0, "byteOffset": 0, "byteLength": 96, "byteStride": 24, "target": 34962},
            {"buffer": 0, "byteOffset": 96, "byteLength": 24, "target": 34963},
        ],
        "buffers": [{"byteLength": len(buf), "uri": data_uri(buf)}],
        "accessors": [
            {"bufferView": 0, "byteOffset": 0, "componentType": 5126, "count": 4, "max": hi, "min": lo, "type": "VEC3"},
            {"bufferView": 0, "byteOffset": 12, "componentType": 5126, "count": 4, "type": "VEC3"},
            {"bufferView": 1, "byteOffset": 0, "componentType": 5123, "count": 12, "type": "SCALAR"},
        ],
        "materials": [{"pbrMetallicRoughness": {"metallicFactor": 0, "roughnessFactor": 1}}],
        "meshes": [
            {
                "name": "tetra",
                "primitives": [{"mode": 4, "attributes": {"POSITION": 0, "NORMAL": 1}, "indices": 2, "material": 0}],
            }
        ],
    }
    (out / "threejs_interleaved.gltf").write_text(json.dumps(doc))


def threejs_nonindexed(out):
    """three.js GLTFExporter with `trs: true` on non-indexed geometry: no indices, POSITION and
    NORMAL in bufferViews of their own, translation/rotation/scale, pretty-printed JSON."""
    pos, nor = [], []
    for f in FACES:
        n = normal(*[TET[i] for i in f])
        for i in f:
            pos.append(TET[i])
            nor.append(n)
    pb = f32s([c for p in pos for c in p])
    nb = f32s([c for p in nor for c in p])
    lo, hi = bounds(pos)
    h = math.sqrt(0.5)
    doc = {
        "asset": {"version": "2.0", "generator": "THREE.GLTFExporter r160"},
        "scene": 0,
        "scenes": [{"name": "AuxScene", "nodes": [0]}],
        "nodes": [
            {"name": "tetra", "mesh": 0, "rotation": [h, 0, 0, h], "scale": [3, 3, 3], "translation": [0, 1, 0]}
        ],
        "bufferViews": [
            {"buffer": 0, "byteOffset": 0, "byteLength": len(pb), "target": 34962},
            {"buffer": 0, "byteOffset": len(pb), "byteLength": len(nb), "target": 34962},
        ],
        "buffers": [{"byteLength": len(pb) + len(nb), "uri": data_uri(pb + nb)}],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": 12, "max": hi, "min": lo, "type": "VEC3"},
            {"bufferView": 1, "componentType": 5126, "count": 12, "type": "VEC3"},
        ],
        "meshes": [{"primitives": [{"mode": 4, "attributes": {"POSITION": 0, "NORMAL": 1}}]}],
    }
    (out / "threejs_nonindexed.gltf").write_text(json.dumps(doc, indent=2) + "\n")


def trimesh(out):
    """trimesh: GLB, a `world` root node, one mesh, u32 indices listed before the positions, units
    in millimetres, `extras` on the scene and the mesh."""
    mm = [tuple(25.4 * c for c in p) for p in TET]
    ib = struct.pack("<12I", *[i for f in FACES for i in f])
    pb = f32s([c for p in mm for c in p])
    lo, hi = bounds(mm)
    doc = {
        "scene": 0,
        "scenes": [{"nodes": [0], "extras": {"name": "tetra", "units": "millimeters"}}],
        "asset": {"version": "2.0", "generator": "https://github.com/mikedh/trimesh"},
        "accessors": [
            {"componentType": 5125, "type": "SCALAR", "bufferView": 0, "count": 12, "max": [3], "min": [0]},
            {"componentType": 5126, "type": "VEC3", "byteOffset": 0, "bufferView": 1, "count": 4, "max": hi, "min": lo},
        ],
        "meshes": [
            {
                "name": "geometry_0",
                "extras": {"processed": True, "file_name": "tetra.stl"},
                "primitives": [{"attributes": {"POSITION": 1}, "indices": 0, "mode": 4}],
            }
        ],
        "nodes": [{"name": "world", "children": [1]}, {"name": "geometry_0", "mesh": 0}],
        "buffers": [{"byteLength": len(ib) + len(pb)}],
        "bufferViews": [
            {"buffer": 0, "byteOffset": 0, "byteLength": len(ib)},
            {"buffer": 0, "byteOffset": len(ib), "byteLength": len(pb)},
        ],
    }
    (out / "trimesh.glb").write_bytes(glb(doc, ib + pb))


def tutorial(out):
    """The Khronos tutorial's minimal file: no scenes (every root node is placed), no POSITION
    bounds, no mode, `application/gltf-buffer` data URI, non-indexed."""
    pb = f32s([c for f in FACES for i in f for c in TET[i]])
    doc = {
        "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}],
        "buffers": [{"uri": data_uri(pb, "application/gltf-buffer"), "byteLength": len(pb)}],
        "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": len(pb), "target": 34962}],
        "accessors": [{"bufferView": 0, "byteOffset": 0, "componentType": 5126, "count": 12, "type": "VEC3"}],
        "asset": {"version": "2.0"},
    }
    (out / "tutorial_noscene.gltf").write_text(json.dumps(doc, indent=2) + "\n")


def strip(out):
    """A strip optimiser's output: the whole tetrahedron as one TRIANGLE_STRIP (a b c d a b) with
    u8 indices, inside a GLB whose binary chunk is followed by an unknown chunk to be skipped."""
    ib = pad(bytes([0, 1, 2, 3, 0, 1]), b"\0")
    pb = f32s([c for p in TET for c in p])
    lo, hi = bounds(TET)
    doc = {
        "asset": {"version": "2.0", "generator": "strip optimiser"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 1, "mode": 5}]}],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": 4, "max": hi, "min": lo, "type": "VEC3"},
            {"bufferView": 1, "componentType": 5121, "count": 6, "type": "SCALAR"},
        ],
        "bufferViews": [
            {"buffer": 0, "byteOffset": 0, "byteLength": len(pb)},
            {"buffer": 0, "byteOffset": len(pb), "byteLength": 6},
        ],
        "buffers": [{"byteLength": len(pb) + 6}],
    }
    data = glb(doc, pb + ib)
    extra = struct.pack("<I", 4) + b"XTRA" + b"\1\2\3\4"
    data = data[:8] + struct.pack("<I", len(data) + len(extra)) + data[12:] + extra
    (out / "strip_u8.glb").write_bytes(data)


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "tests/awkward")
    for make in [blender, threejs_interleaved, threejs_nonindexed, trimesh, tutorial, strip]:
        make(out)
