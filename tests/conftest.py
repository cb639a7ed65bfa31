import pytest

from libraries.models import Library


@pytest.fixture
def make_library(tmp_path):
    """Create a Library row over a fresh folder under tmp_path."""
    counter = iter(range(1, 10_000))

    def make(name: str | None = None, path=None, **fields) -> Library:
        n = next(counter)
        folder = path if path is not None else tmp_path / f"library{n}"
        folder.mkdir(parents=True, exist_ok=True)
        return Library.objects.create(name=name or f"Library {n}", path=str(folder.resolve()), **fields)

    return make
