"""A scikit-learn classifier on shapeclf's descriptors.

    python sklearn_pipeline.py MESH_ROOT [FEATURES_DIR]

MESH_ROOT is a dataset as ``shapeclf features`` reads it (``ROOT/<class>/{train,test}/<mesh>``;
``shapeclf synth meshes --per-class 10`` makes one). The feature table is computed once (and
reused by a rerun), a pipeline is fitted on the training rows and scored on the test rows, and
one mesh is classified from its file alone.
"""

import sys

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

import shapeclf


def main(root: str, out: str) -> float:
    # The whole `shapeclf features` run as a library call; no views, only descriptors.
    df = shapeclf.features(root, out, views=False)
    columns = list(df.columns[3:])
    # Histogram bins are shares of a whole: their square root (the Hellinger map, as
    # shapeclf's own models use) before standardising; the statistics as they are.
    hist = [c for c in columns if c.split("_")[0] in ("d2", "sdf", "d1", "a3", "d3")]
    rest = [c for c in columns if c not in hist]
    model = make_pipeline(
        ColumnTransformer(
            [("hist", FunctionTransformer(np.sqrt), hist), ("rest", "passthrough", rest)]
        ),
        StandardScaler(),
        LogisticRegression(max_iter=5000, C=0.1),
    )
    train, test = df[df.split == "train"], df[df.split == "test"]
    model.fit(train[columns], train["class"])
    accuracy = model.score(test[columns], test["class"])
    print(f"{len(train)} training and {len(test)} test meshes, test accuracy {accuracy:.3f}")

    # A new mesh: the same settings give exactly its row of the table.
    path = shapeclf.mesh_path(root, test.path.iloc[0])
    d = shapeclf.descriptors(path)
    x = np.concatenate([a.ravel() for a in d.values()])[None, :]
    import pandas as pd

    print(f"{path}: {model.predict(pd.DataFrame(x, columns=columns))[0]}")
    return accuracy


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2] if len(sys.argv) == 3 else "features")
