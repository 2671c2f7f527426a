"""The prediction cache: what an entry can serve, least-recently-used eviction, clearing."""

from __future__ import annotations

from bridge.cache import PredictionCache


def test_a_prediction_serves_requests_for_as_many_suggestions_or_fewer():
    cache = PredictionCache()
    cache.put("x = 1", "p5", top_k=5, include_embedding=False)
    assert cache.get("x = 1", top_k=5, include_embedding=False) == "p5"
    assert cache.get("x = 1", top_k=2, include_embedding=False) == "p5"
    assert cache.get("x = 1", top_k=6, include_embedding=False) is None


def test_a_prediction_without_an_embedding_cannot_serve_a_request_for_one():
    cache = PredictionCache()
    cache.put("x = 1", "plain", top_k=5, include_embedding=False)
    assert cache.get("x = 1", top_k=5, include_embedding=True) is None
    cache.put("x = 1", "with", top_k=5, include_embedding=True)
    assert cache.get("x = 1", top_k=5, include_embedding=False) == "with"


def test_the_least_recently_used_entry_goes_first():
    cache = PredictionCache(capacity=2)
    cache.put("a", "A", top_k=5, include_embedding=False)
    cache.put("b", "B", top_k=5, include_embedding=False)
    assert cache.get("a", top_k=5, include_embedding=False) == "A"  # now b is the oldest
    cache.put("c", "C", top_k=5, include_embedding=False)
    assert cache.get("b", top_k=5, include_embedding=False) is None
    assert len(cache) == 2


def test_long_code_is_not_kept_and_clear_forgets_everything():
    cache = PredictionCache(max_code_chars=10)
    cache.put("y" * 11, "long", top_k=5, include_embedding=False)
    cache.put("short", "kept", top_k=5, include_embedding=False)
    assert len(cache) == 1
    cache.clear()
    assert cache.get("short", top_k=5, include_embedding=False) is None


def test_a_prediction_made_with_a_project_context_serves_only_an_equal_context():
    from model.project import ImportContext

    helpers = ImportContext({"slugify": {"pkg.helpers": 1.0}}, "pkg.views")
    cache = PredictionCache()
    cache.put("x = slugify(t)", "with", top_k=5, include_embedding=False, project=helpers)
    assert cache.get("x = slugify(t)", top_k=5, include_embedding=False) is None
    same = ImportContext({"slugify": {"pkg.helpers": 1.0}}, "pkg.views")
    assert cache.get("x = slugify(t)", top_k=5, include_embedding=False, project=same) == "with"
    rebuilt = ImportContext({"slugify": {"pkg.text": 1.0}}, "pkg.views")  # the project changed since
    assert cache.get("x = slugify(t)", top_k=5, include_embedding=False, project=rebuilt) is None
    cache.put("x = slugify(t)", "without", top_k=5, include_embedding=False)
    assert cache.get("x = slugify(t)", top_k=5, include_embedding=False) == "without"
    assert len(cache) == 1  # one entry per code: the latest context replaced the other


def test_a_project_view_serves_only_the_same_index_from_the_same_file_and_does_not_keep_it_alive():
    import gc
    import weakref

    from model.project import ProjectIndex, ProjectView

    index = ProjectIndex.from_modules([("pkg.helpers", "def slugify(t):\n    return t\n", False)])
    cache = PredictionCache()

    def get(project):
        return cache.get("x = slugify(t)", top_k=5, include_embedding=False, project=project)

    cache.put("x = slugify(t)", "p", top_k=5, include_embedding=False, project=ProjectView(index, "/p/pkg/a.py"))
    assert get(ProjectView(index, "/p/pkg/a.py")) == "p"
    assert get(ProjectView(index, "/p/pkg/b.py")) is None and get(None) is None
    rebuilt = ProjectIndex.from_modules([("pkg.helpers", "def slugify(t):\n    return t\n", False)])
    assert get(ProjectView(rebuilt, "/p/pkg/a.py")) is None  # another index, however alike
    alive = weakref.ref(index)
    del index
    gc.collect()
    assert alive() is None  # the cache held it weakly: a rebuilt project's old index is freed


def test_a_prediction_begun_before_a_clear_is_not_stored_after_it():
    cache = PredictionCache()
    begun = cache.generation
    cache.clear()  # a reload swapped the model meanwhile
    cache.put("x = 1", "old model", top_k=5, include_embedding=False, generation=begun)
    assert cache.get("x = 1", top_k=5, include_embedding=False) is None
    cache.put("x = 1", "new model", top_k=5, include_embedding=False, generation=cache.generation)
    assert cache.get("x = 1", top_k=5, include_embedding=False) == "new model"
