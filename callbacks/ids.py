"""Component ids, one class per page, shared by pages/ (layout) and callbacks/ (behaviour)."""


class Shell:
    URL = "shell-url"


class Datasets:
    TABLE = "datasets-table"
    REFRESH = "datasets-refresh"
    NAME = "datasets-name"
    SOURCE_TABS = "datasets-source-tabs"
    FOLDER = "datasets-folder"
    FOLDER_LIST = "datasets-folder-list"
    FOLDER_ENTRY = "datasets-folder-entry"  # pattern-matching type, index = folder path
    TILED_URI = "datasets-tiled-uri"
    TILED_KEY = "datasets-tiled-key"
    REGISTER = "datasets-register"
    FEEDBACK = "datasets-feedback"
    DEMO = "datasets-demo"
    DEMO_CARD = "datasets-demo-card"


class Gallery:
    DATASET = "gallery-dataset"
    PAGE = "gallery-page"
    PAGE_SIZE = "gallery-page-size"
    THUMB_SIZE = "gallery-thumb-size"
    FIRST = "gallery-first"
    PREVIOUS = "gallery-previous"
    NEXT = "gallery-next"
    LAST = "gallery-last"
    PAGE_INFO = "gallery-page-info"
    GRID = "gallery-grid"
    SUMMARY = "gallery-summary"
