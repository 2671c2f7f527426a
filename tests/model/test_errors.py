"""Model errors cross process boundaries (the daemon's prediction workers) with every field intact."""

from __future__ import annotations

import pickle

import pytest

from model.errors import CheckpointError, FeatureVectorError, ModelError, SourceLimitError, SourceSyntaxError


@pytest.mark.parametrize(
    "error",
    [
        SourceSyntaxError("code does not parse: invalid syntax at line 2, column 5", line=2, column=5),
        SourceLimitError("code nests too deeply", limit="nesting", maximum=0),
        SourceLimitError("code is 9 bytes, more than the limit of 8", limit="code_bytes", maximum=8, actual=9),
        FeatureVectorError("expected 978 numbers per feature vector, got 3", expected=978, index=None),
        CheckpointError("checkpoint is corrupt", path="/tmp/x.safetensors"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_each_model_error_pickles_with_its_message_and_fields(error: ModelError):
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error) and copy.args == error.args
    assert vars(copy) == vars(error)
