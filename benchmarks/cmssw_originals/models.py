"""The CMS originals (../shared/models/cms-originals) and their ONNX twins."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT.parent / "shared" / "models"
ORIG = MODELS / "cms-originals"
AK8 = str(ORIG / "DeepAK8_V02_full/resnet-symbol.json")
AK8_TWIN = str(MODELS / "cms/DeepAK8_V02_full.onnx")
DDB = str(ORIG / "DeepDoubleX_94X_V01_DDB/DDB.pb")
DDB_TWIN = str(ORIG / "DeepDoubleX_94X_V01_DDB/DDB.onnx")
DEEPJET = str(ORIG / "DeepJet_V01_GraphDef/constant_graph.pb")
DEEPJET_SHAPES = {
    "input_1": "B,15",
    "input_2": "B,25,16",
    "input_3": "B,25,6",
    "input_4": "B,4,12",
    "input_5": "B,1",
}
ISAS = ["native", "avx2"]
