"""devices.toml: a full example loads; every mistake is named with its file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices import agent, config
from devices.config import DevicesConfigError

EXAMPLE = """\
[agent]
id = "east-hall"
state_dir = "/var/lib/hallcall/devices"
public_url = "https://queue.example.gov.cn"

[[ports]]
port = "/dev/ttyUSB0"
protocol = "escpos"
baudrate = 9600
flow_control = "xonxoff"

  [[ports.devices]]
  id = "printer-k1"
  role = "printer"
  kiosk = "k1"

[[ports]]
port = "/dev/ttyUSB1"
protocol = "ff68"

  [[ports.devices]]
  id = "keypad-3"
  role = "keypad"
  address = 1
  window = 3

  [[ports.devices]]
  id = "keypad-4"
  role = "keypad"
  address = 2
  window = 4

[[ports]]
port = "rfc2217://10.0.0.9:4001"
protocol = "hallcall"
baudrate = 19200

  [[ports.devices]]
  id = "evaluator-3"
  role = "evaluator"
  address = 2
  window = 3

  [[ports.devices]]
  id = "led-3"
  role = "led"
  address = 3
  window = 3
  width = 8
"""


def test_the_documented_example_loads() -> None:
    cfg = config.parse(EXAMPLE)
    assert cfg.id == "east-hall"
    assert cfg.windows == [3, 4]
    assert cfg.kiosks == ["k1"]
    printer, keypads, bus = cfg.ports
    assert printer.protocol == "escpos" and printer.serial.flow_control == "xonxoff"
    assert [d.address for d in keypads.devices] == [1, 2]
    assert bus.serial.port == "rfc2217://10.0.0.9:4001" and bus.serial.baudrate == 19200
    assert bus.devices[1].width == 8


def test_docs_example_is_this_example() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "devices.md").read_text(encoding="utf-8")
    assert EXAMPLE in docs


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('flow_control = "xonxoff"', 'flow_control = "dsrdtr"'),
         "devices.toml:10: ports[0].flow_control: dsrdtr is not flow control on Linux"),
        (('kiosk = "k1"', ""), "devices.toml:12: ports[0].devices[0].kiosk: required for a printer"),
        (("window = 4", 'window = "4"'), "devices.toml:31: ports[1].devices[1].window: must be int"),
        (("address = 2\n  window = 4", "address = 1\n  window = 4"), "devices.toml:17: ports[1].devices: two devices"),
        (('protocol = "ff68"', 'protocol = "modbus"'), "devices.toml:19: ports[1].protocol: must be one of"),
        (('id = "led-3"', 'id = "evaluator-3"'), "devices.toml:45: ports[2].devices[1].id: 'evaluator-3' is already"),
        (('role = "led"', 'role = "printer"'), "devices.toml:46: ports[2].devices[1].role: a hallcall port carries"),
        (("width = 8", "width = 8\n  colour = \"red\""), "devices.toml:50: ports[2].devices[1].colour: unknown setting"),
        (('public_url = "https://queue.example.gov.cn"', 'public_url = "queue"'),
         "devices.toml:4: agent.public_url: must start with http"),
        (("baudrate = 19200", "baudrate = 7"), "devices.toml:36: ports[2].baudrate: must be between"),
        (("id = \"east-hall\"", "id = \"east-hall\"\n["), "devices.toml:3: syntax:"),
    ],
)
def test_mistakes_name_file_line_and_field(change: tuple[str, str], expected: str) -> None:
    text = EXAMPLE.replace(*change, 1)
    with pytest.raises(DevicesConfigError) as err:
        config.parse(text)
    assert any(issue.startswith(expected) for issue in err.value.issues), err.value.issues


def test_every_mistake_is_reported_at_once() -> None:
    text = EXAMPLE.replace("window = 3", "window = 0").replace('kiosk = "k1"', "")
    with pytest.raises(DevicesConfigError) as err:
        config.parse(text)
    assert len(err.value.issues) == 4  # three windows and the kiosk


def test_empty_and_missing_files() -> None:
    with pytest.raises(DevicesConfigError, match="at least one"):
        config.parse("[agent]\n")
    with pytest.raises(DevicesConfigError, match="cannot read"):
        config.load("/nonexistent/devices.toml")


def test_check_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "devices.toml"
    good.write_text(EXAMPLE, encoding="utf-8")
    assert agent.main(["--server", "http://127.0.0.1:1", "--config", str(good), "--check"]) == 0
    assert "windows [3, 4], kiosks ['k1']" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text(EXAMPLE.replace('protocol = "ff68"', 'protocol = "x"'), encoding="utf-8")
    assert agent.main(["--server", "http://127.0.0.1:1", "--config", str(bad), "--check"]) == 2
    assert f"{bad}:19: ports[1].protocol" in capsys.readouterr().out
