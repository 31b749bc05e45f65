"""A persistent face gallery on faiss: ``Gallery`` and its ``SearchResult``."""

from facenet_tf.gallery.gallery import Gallery
from facenet_tf.gallery.search_result import SearchResult

__all__ = ["Gallery", "SearchResult"]
