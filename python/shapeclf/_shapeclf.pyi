"""Types of the native module ``shapeclf._shapeclf`` (Rust, built by maturin). Use the
``shapeclf`` package's functions; these are what they call."""

import os
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

_Path = Union[str, "os.PathLike[str]"]

__version__: str
BUILD_ID: str
GPU: bool
MODEL_FILES: List[str]

class ShapeclfError(Exception): ...

def load_mesh(
    path: _Path, normalize: bool = False
) -> Tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]: ...
def descriptors(
    path: Optional[_Path],
    vertices: Optional[npt.NDArray[np.float32]],
    faces: Optional[npt.NDArray[np.int64]],
    **settings: Any,
) -> Tuple[List[str], npt.NDArray[np.float32], List[str]]: ...
def render_views(
    path: Optional[_Path],
    vertices: Optional[npt.NDArray[np.float32]],
    faces: Optional[npt.NDArray[np.int64]],
    **settings: Any,
) -> Tuple[npt.NDArray[np.uint8], Tuple[int, int, int, int], List[str]]: ...
def expand_mesh_paths(paths: List[_Path]) -> List[_Path]: ...
def check_features(out: _Path, **settings: Any) -> List[str]: ...
def features(root: _Path, out: _Path, verbose: bool = ..., **settings: Any) -> Dict[str, Any]: ...
def check_train(model: str, **settings: Any) -> List[str]: ...
def train(
    features: _Path, out: _Path, model: str, verbose: bool = ..., **settings: Any
) -> List[str]: ...
def synth(
    dir: _Path, per_class: int, seed: int, subdivide: int, formats: List[str], realistic: bool
) -> List[_Path]: ...
def export_onnx(model_dir: _Path, out: _Path) -> str: ...
def compare(models: _Path) -> Tuple[str, List[Tuple[str, str]]]: ...

class NativeModel:
    @staticmethod
    def load(dir: _Path) -> "NativeModel": ...
    @property
    def classes(self) -> List[str]: ...
    def probabilities(
        self,
        path: Optional[_Path],
        vertices: Optional[npt.NDArray[np.float32]],
        faces: Optional[npt.NDArray[np.int64]],
    ) -> Tuple[Optional[npt.NDArray[np.float32]], Optional[str]]: ...
    def ranked(
        self, probs: Union[List[float], npt.NDArray[np.float32]], top: int
    ) -> List[Tuple[str, float]]: ...
