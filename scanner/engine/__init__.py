"""One claimed scan, from its checkpoint to completion: `run` ties together `plan` (a run of the
walk against the catalogue), `catalogue` (bulk row writes), `moves` (moved files keep their
rows) and `commit` (each batch in one lease-guarded transaction). Only the runtime imports this
package (an import-linter contract checks it).
"""

from scanner.engine.run import ScanEngine

__all__ = ["ScanEngine"]
