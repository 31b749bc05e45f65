"""Build entry point for facenet-tf (metadata lives here; tool config in pyproject.toml)."""

from setuptools import find_packages, setup

# google-crc32c: Beam's TFRecord sink checksums records with it (or crcmod/snappy).
BEAM = ["apache-beam>=2.77,<2.78", "tensorflow-hub>=0.16", "pyarrow>=15", "google-crc32c>=1.5"]

setup(
    name="facenet-tf",
    version="0.1.0",
    description="FaceNet (Schroff et al., CVPR 2015) in TensorFlow 2 / Keras 3: "
    "embedding models, triplet losses, alignment, evaluation and export.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    # LICENSE: the code's terms; NOTICE: attribution and the third-party weights' terms.
    license_files=["LICENSE", "NOTICE"],
    python_requires=">=3.11",
    packages=find_packages(include=["facenet_tf", "facenet_tf.*"]),
    package_data={
        "facenet_tf": ["py.typed", "pretrained/*.json", "pretrained/weights/*.npz", "align/*.json"]
    },
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "keras>=3.15,<4",
        "numpy>=1.26",
        "opencv-python-headless>=4.9",
        "absl-py>=2.1",
        "scikit-learn>=1.5",
        "tqdm>=4.66",
        "mtcnn>=1.0,<2",
        "face-recognition-models>=0.3.0",
        "ai-edge-litert>=2.0",
        "matplotlib>=3.8",
        "faiss-cpu>=1.8",
    ],
    extras_require={
        # Bulk jobs on Apache Beam (facenet_tf.pipelines); the base install stays free of Beam.
        # Beam's TensorFlow model handler imports tensorflow_hub; Parquet output uses pyarrow.
        "beam": BEAM,
        "dev": [
            *BEAM,
            "pytest>=8",
            "hypothesis>=6",
            "ruff>=0.6",
            "dlib-bin>=20.0",
            "pillow>=10",
        ],
    },
    entry_points={"console_scripts": ["facenet-tf=facenet_tf.cli:main"]},
)
