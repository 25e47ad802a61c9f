"""The Classify tab: examples, features, train / preview / apply, save and load (ONNX), and
the single-feature threshold classifier."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from tilescope.engine.analysis.classifier import KINDS

WHOLE_SLIDE = "Whole slide"
IN_VIEW = "Objects in view"
IN_SELECTION = "Inside the selected region"


class ClassifierPanel(QWidget):
    add_examples_requested = Signal(str)  # class name
    train_requested = Signal()
    preview_requested = Signal()
    apply_requested = Signal(str)  # scope
    save_requested = Signal()
    load_requested = Signal()
    threshold_requested = Signal(str)  # scope

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.example_class = QComboBox()
        self.example_class.setEditable(True)
        add = QPushButton("Add selected")
        add.setToolTip("Use the selected objects as examples of this class (or drop points)")
        add.clicked.connect(
            lambda: self.add_examples_requested.emit(self.example_class.currentText())
        )
        self.examples = QLabel("No examples yet")
        self.features = QListWidget()
        self.features.setMaximumHeight(140)
        self.kind = QComboBox()
        self.kind.addItems(list(KINDS))
        self.live = QCheckBox("Live preview in view")
        self.live.setChecked(True)
        self.train = QPushButton("Train")
        self.train.clicked.connect(self.train_requested)
        self.scope = QComboBox()
        self.scope.addItems([WHOLE_SLIDE, IN_VIEW, IN_SELECTION])
        self.apply = QPushButton("Apply")
        self.apply.setEnabled(False)
        self.apply.clicked.connect(lambda: self.apply_requested.emit(self.scope.currentText()))
        save = QPushButton("Save…")
        save.clicked.connect(self.save_requested)
        load = QPushButton("Load…")
        load.clicked.connect(self.load_requested)
        self.status = QLabel()
        self.status.setWordWrap(True)

        trained = QGroupBox("Trained classifier")
        form = QFormLayout(trained)
        row = QHBoxLayout()
        row.addWidget(self.example_class, 1)
        row.addWidget(add)
        form.addRow("Class", row)
        form.addRow(self.examples)
        form.addRow("Features", self.features)
        form.addRow("Model", self.kind)
        buttons = QHBoxLayout()
        buttons.addWidget(self.train)
        buttons.addWidget(self.live)
        form.addRow(buttons)
        apply_row = QHBoxLayout()
        apply_row.addWidget(self.scope, 1)
        apply_row.addWidget(self.apply)
        form.addRow("Apply to", apply_row)
        files = QHBoxLayout()
        files.addWidget(save)
        files.addWidget(load)
        form.addRow(files)

        self.threshold_feature = QComboBox()
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(-1e9, 1e9)
        self.threshold.setDecimals(3)
        self.threshold.setSingleStep(0.05)
        self.threshold.setValue(0.2)
        self.levels = QLineEdit()
        self.levels.setPlaceholderText("or three levels, e.g. 0.2,0.4,0.6: 1+/2+/3+")
        self.levels.setToolTip("Score Negative/1+/2+/3+ (the summary shows the H-score)")
        self.above = QLineEdit("Positive")
        self.below = QLineEdit("Negative")
        apply_threshold = QPushButton("Apply threshold")
        apply_threshold.clicked.connect(
            lambda: self.threshold_requested.emit(self.scope.currentText())
        )
        simple = QGroupBox("Threshold (one feature)")
        tform = QFormLayout(simple)
        tform.addRow("Feature", self.threshold_feature)
        tform.addRow("Above", self.threshold)
        names = QHBoxLayout()
        names.addWidget(self.above)
        names.addWidget(self.below)
        tform.addRow("Classes", names)
        tform.addRow("Levels", self.levels)
        tform.addRow(apply_threshold)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(trained)
        layout.addWidget(simple)
        layout.addWidget(self.status)
        layout.addStretch(1)

    def set_features(self, names: list[str]) -> None:
        """All measurement columns, ticked by default (kept unticked if the user unticked)."""
        unticked = {
            self.features.item(i).text()
            for i in range(self.features.count())
            if self.features.item(i).checkState() != Qt.CheckState.Checked
        }
        self.features.clear()
        for name in names:
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(
                Qt.CheckState.Unchecked if name in unticked else Qt.CheckState.Checked
            )
            self.features.addItem(item)
        current = self.threshold_feature.currentText()
        self.threshold_feature.clear()
        self.threshold_feature.addItems(names)
        preferred = current or ("cytoplasm_dab_od_mean" if "cytoplasm_dab_od_mean" in names else "")
        index = self.threshold_feature.findText(preferred or "dab_od_mean")
        self.threshold_feature.setCurrentIndex(max(index, 0))

    def chosen_features(self) -> list[str]:
        return [
            self.features.item(i).text()
            for i in range(self.features.count())
            if self.features.item(i).checkState() == Qt.CheckState.Checked
        ]

    def set_runs(self, runs: list[tuple[str, str]]) -> None:
        """Apply-to choices: whole slide, view, region, then each run (label, run id)."""
        current = self.scope.currentText()
        self.scope.clear()
        self.scope.addItems([WHOLE_SLIDE, IN_VIEW, IN_SELECTION])
        for label, run_id in runs:
            self.scope.addItem(label, run_id)
        self.scope.setCurrentIndex(max(self.scope.findText(current), 0))

    def run_for(self, scope: str) -> str | None:
        """The run id of a "Run: ..." choice (None for the others)."""
        index = self.scope.findText(scope)
        data = self.scope.itemData(index) if index >= 0 else None
        return str(data) if data else None

    def set_classes(self, names: list[str]) -> None:
        current = self.example_class.currentText()
        self.example_class.clear()
        self.example_class.addItems(names)
        if current:
            self.example_class.setCurrentText(current)
