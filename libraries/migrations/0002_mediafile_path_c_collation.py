"""Give MediaFile.path the byte-wise "C" collation on PostgreSQL.

The scanner walks a library in sorted order and compares each batch with the catalogue rows
in the same path range (`path > checkpoint AND path <= last`). That only works if SQL orders
paths exactly as Python does (by code point, which equals UTF-8 byte order). SQLite's default
BINARY collation already does; PostgreSQL's database collation (en_US...) does not.

This is done here rather than with `db_collation` on the field because SQLite has no "C"
collation. Caution: a later AlterField on `path` would drop it; re-apply it there.
"""

from django.db import migrations


def use_c_collation(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute('ALTER TABLE libraries_mediafile ALTER COLUMN path TYPE text COLLATE "C"')


def use_default_collation(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE libraries_mediafile ALTER COLUMN path TYPE text")


class Migration(migrations.Migration):
    dependencies = [("libraries", "0001_initial")]

    operations = [migrations.RunPython(use_c_collation, use_default_collation, elidable=False)]
