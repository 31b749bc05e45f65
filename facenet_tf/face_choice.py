"""Which face(s) of a photo to use: the policy names (no heavy imports, so binaries'
``--help`` and flag definitions can use them). The rules are ``face_align.select_faces``."""

POLICIES = ("center_weighted", "largest", "most_central", "all")
# One face per photo: the policies that pick a single face.
ONE_FACE_POLICIES = POLICIES[:3]
DEFAULT_POLICY = "center_weighted"
# Weight of the squared centre offset against the box area in "center_weighted": the
# value of FaceNet's reference alignment script (``align_dataset_mtcnn``).
CENTER_WEIGHT = 2.0
