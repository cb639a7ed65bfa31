"""The bottom package both apps and the project use: typed environment readers (`env`), which
database errors are outages (`dberrors`), and one-process-at-a-time locks (`locks`). It imports
no app and no project module.
"""
