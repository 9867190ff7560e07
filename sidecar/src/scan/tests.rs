//! `scan` over fake buses: several buses with chips at several addresses, an address
//! a kernel driver holds, addresses that do not answer, a bus that cannot be opened,
//! one that times out. Every bus operation is logged, so the tests can say what was
//! read where and that nothing was ever written.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

use super::probe::{FIRST_ADDRESS, LAST_ADDRESS};
use super::*;
use crate::config;
use crate::i2c::{BusError, I2cSource};

/// One bus operation, on (bus, address).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Select,
    ReceiveByte,
    ReadByteData(u8),
    ReadWordData(u8),
    /// Any write: a plain write, a pointer write of `write_read`, an SMBus write.
    Write(Vec<u8>),
    PlainRead,
}

type Log = Rc<RefCell<Vec<(u32, u16, Op)>>>;

/// A device: its registers, or the errno its reads fail with.
#[derive(Debug, Clone, Default)]
struct FakeChip {
    bytes: BTreeMap<u8, u8>,
    /// Values as the chip holds them (sent most significant byte first).
    words: BTreeMap<u8, u16>,
    /// The probe (receive byte) fails with this.
    probe_errno: Option<i32>,
    /// Register reads fail with this.
    register_errno: Option<i32>,
}

impl FakeChip {
    fn bytes(pairs: &[(u8, u8)]) -> Self {
        FakeChip {
            bytes: pairs.iter().copied().collect(),
            ..Default::default()
        }
    }

    fn words(pairs: &[(u8, u16)]) -> Self {
        FakeChip {
            words: pairs.iter().copied().collect(),
            ..Default::default()
        }
    }
}

#[derive(Debug)]
struct FakeBus {
    number: u32,
    chips: BTreeMap<u16, FakeChip>,
    held: BTreeSet<u16>,
    /// Opening the bus fails with this (EACCES, ENOENT).
    unusable: Option<i32>,
    selected: u16,
    log: Log,
}

impl FakeBus {
    fn log(&self, op: Op) {
        self.log.borrow_mut().push((self.number, self.selected, op));
    }

    fn chip(&self) -> Option<&FakeChip> {
        self.chips.get(&self.selected)
    }

    fn register<T>(&self, read: impl FnOnce(&FakeChip) -> T) -> Result<T, BusError> {
        match self.chip() {
            None => Err(BusError::from_errno(libc::EREMOTEIO)),
            Some(chip) => match chip.register_errno {
                Some(errno) => Err(BusError::from_errno(errno)),
                None => Ok(read(chip)),
            },
        }
    }
}

impl I2cBus for FakeBus {
    fn set_address(&mut self, address: u16, force: bool) -> Result<(), BusError> {
        assert!(!force, "the scan never forces an address");
        if let Some(errno) = self.unusable {
            return Err(BusError::from_errno(errno).context(format!("opening i2c-{}", self.number)));
        }
        self.selected = address;
        self.log(Op::Select);
        if self.held.contains(&address) {
            return Err(BusError::from_errno(libc::EBUSY));
        }
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), BusError> {
        self.log(Op::Write(bytes.to_vec()));
        Ok(())
    }

    fn read(&mut self, _buf: &mut [u8]) -> Result<(), BusError> {
        self.log(Op::PlainRead);
        Ok(())
    }

    fn write_read(&mut self, bytes: &[u8], _buf: &mut [u8]) -> Result<(), BusError> {
        self.log(Op::Write(bytes.to_vec()));
        Ok(())
    }

    fn smbus_read_byte(&mut self) -> Result<u8, BusError> {
        self.log(Op::ReceiveByte);
        match self.chip() {
            None => Err(BusError::from_errno(libc::ENXIO)),
            Some(FakeChip {
                probe_errno: Some(errno),
                ..
            }) => Err(BusError::from_errno(*errno)),
            Some(_) => Ok(0),
        }
    }

    fn smbus_read_byte_data(&mut self, register: u8) -> Result<u8, BusError> {
        self.log(Op::ReadByteData(register));
        self.register(|chip| chip.bytes.get(&register).copied().unwrap_or(0))
    }

    fn smbus_read_word_data(&mut self, register: u8) -> Result<u16, BusError> {
        self.log(Op::ReadWordData(register));
        // SMBus takes the first byte on the wire as the low byte.
        self.register(|chip| chip.words.get(&register).copied().unwrap_or(0).swap_bytes())
    }

    fn smbus_write_byte_data(&mut self, register: u8, value: u8) -> Result<(), BusError> {
        self.log(Op::Write(vec![register, value]));
        Ok(())
    }

    fn delay(&mut self, _duration: Duration) {
        panic!("the scan never waits");
    }
}

/// What is on one bus.
#[derive(Debug, Clone, Default)]
struct Wiring {
    chips: BTreeMap<u16, FakeChip>,
    /// Addresses a kernel driver holds.
    held: BTreeSet<u16>,
    /// Opening the bus fails with this.
    unusable: Option<i32>,
}

/// The node's buses: what `open` gives for each number.
struct Board {
    buses: BTreeMap<u32, Wiring>,
    log: Log,
}

impl Board {
    fn open(&self, number: u32) -> Box<dyn I2cBus> {
        let wiring = self.buses.get(&number).cloned().unwrap_or(Wiring {
            unusable: Some(libc::ENOENT),
            ..Default::default()
        });
        Box::new(FakeBus {
            number,
            chips: wiring.chips,
            held: wiring.held,
            unusable: wiring.unusable,
            selected: 0,
            log: Rc::clone(&self.log),
        })
    }

    /// Every operation at (bus, address), in order.
    fn ops_at(&self, bus: u32, address: u16) -> Vec<Op> {
        self.log
            .borrow()
            .iter()
            .filter(|(b, a, _)| (*b, *a) == (bus, address))
            .map(|(_, _, op)| op.clone())
            .collect()
    }
}

const BME280: (u8, u8) = (0xD0, 0x60);
const BMP280: (u8, u8) = (0xD0, 0x58);

/// Bus 1: an INA226 at 0x40, 0x41 held by a kernel driver, something at 0x44 (an
/// SHT3x/SHT4x address), an MCP9808 at 0x18, a BME280 at 0x76 and a BMP280 at 0x77.
/// Bus 2: not readable (EACCES). Bus 3: a BMP390 at 0x77, something at 0x76 that
/// answers the probe but not register reads, an INA219 at its power-on
/// configuration at 0x45. Bus 4: a BME680 at 0x76 and a second BME280, at 0x77.
/// Bus 5: a device holding the bus low, every probe timing out. Any other bus
/// number does not exist (ENOENT).
fn board() -> Board {
    let mut buses = BTreeMap::new();
    let bus1: BTreeMap<u16, FakeChip> = [
        (
            0x40,
            FakeChip::words(&[(0xFF, 0x2260), (0xFE, 0x5449), (0x00, 0x4127)]),
        ),
        (0x44, FakeChip::default()),
        (0x18, FakeChip::words(&[(0x06, 0x0054), (0x07, 0x0400)])),
        (0x76, FakeChip::bytes(&[BME280])),
        (0x77, FakeChip::bytes(&[BMP280])),
    ]
    .into_iter()
    .collect();
    let held = BTreeSet::from([0x41]);
    buses.insert(
        1,
        Wiring {
            chips: bus1,
            held,
            unusable: None,
        },
    );
    let unusable = Some(libc::EACCES);
    buses.insert(
        2,
        Wiring {
            unusable,
            ..Default::default()
        },
    );
    let bus3: BTreeMap<u16, FakeChip> = [
        (0x77, FakeChip::bytes(&[(0x00, 0x60), (0xD0, 0x00)])),
        (
            0x76,
            FakeChip {
                register_errno: Some(libc::EREMOTEIO),
                ..Default::default()
            },
        ),
        (0x45, FakeChip::words(&[(0x00, 0x399F)])),
    ]
    .into_iter()
    .collect();
    buses.insert(
        3,
        Wiring {
            chips: bus3,
            ..Default::default()
        },
    );
    let bus4 = [
        (0x77, FakeChip::bytes(&[BME280])),
        (0x76, FakeChip::bytes(&[(0xD0, 0x61)])),
    ];
    let chips = bus4.into_iter().collect();
    buses.insert(
        4,
        Wiring {
            chips,
            ..Default::default()
        },
    );
    let stuck = FakeChip {
        probe_errno: Some(libc::ETIMEDOUT),
        ..Default::default()
    };
    let chips = (0x03..0x0A).map(|a| (a, stuck.clone())).collect();
    buses.insert(
        5,
        Wiring {
            chips,
            ..Default::default()
        },
    );
    Board {
        buses,
        log: Rc::default(),
    }
}

fn settings(buses: &[u32], write_dir: Option<PathBuf>, force: bool) -> ScanSettings {
    ScanSettings {
        dev_root: PathBuf::from("/dev"),
        // No IIO or 1-Wire devices here (their listing: sysfs_devices_are_listed).
        sysfs_root: PathBuf::from("/nonexistent-sysfs"),
        buses: buses.to_vec(),
        node: "edge-node-01".into(),
        write_dir,
        force,
    }
}

fn run_on(board: &Board, settings: &ScanSettings) -> (Result<usize, ScanError>, String) {
    let mut out = Vec::new();
    let result = run_with(settings, &mut out, &mut |n| board.open(n));
    (result, String::from_utf8(out).unwrap())
}

/// The sysfs sections of a run on `settings`' nonexistent sysfs.
const NO_SYSFS_DEVICES: &str = "\
IIO devices (/nonexistent-sysfs/bus/iio/devices, read by the kernel's drivers):
  none

1-Wire thermometers (/nonexistent-sysfs/bus/w1/devices):
  none

";

const LISTING: &str = "\
I2C devices (/dev/i2c-N, addresses 0x03-0x77 probed with a read as `i2cdetect -y -r` does):
  BUS    ADDRESS  WHAT
  i2c-1  0x18     MCP9808 (manufacturer id 0x06 = 0x0054, device id 0x07 = 0x0400): driver \"mcp9808\"
  i2c-1  0x40     INA226 (die id 0xFF = 0x2260, manufacturer id 0xFE = 0x5449): driver \"ina226\"
  i2c-1  0x41     UU: held by a kernel driver, not probed
  i2c-1  0x44     unknown device; by its address possibly SHT3x [driver \"sht3x\"], SHT4x [driver \"sht4x\"] (identifying it takes a command write, not sent)
  i2c-1  0x76     BME280 (chip id 0xD0 = 0x60): driver \"bme280\"
  i2c-1  0x77     BMP280 (chip id 0xD0 = 0x58): driver \"bmp280\"
  i2c-2  -        not scanned: opening i2c-2: EACCES: Permission denied (no permission to use the bus device)
  i2c-3  0x45     maybe INA219 (configuration 0x00 = 0x399F, its power-on value; no id register to confirm) [driver \"ina219\"]
  i2c-3  0x76     unknown device
  i2c-3  0x77     BMP390 (chip id 0x00 = 0x60): driver \"bmp390\"
  i2c-4  0x76     BME680 (chip id 0xD0 = 0x61): no sidecar driver
  i2c-4  0x77     BME280 (chip id 0xD0 = 0x60): driver \"bme280\"
  i2c-5  0x03     probe failed: ETIMEDOUT: Connection timed out (the bus timed out: a device may hold SCL or SDA low)
  i2c-5  0x04     probe failed: ETIMEDOUT: Connection timed out (the bus timed out: a device may hold SCL or SDA low)
  i2c-5  0x05     probe failed: ETIMEDOUT: Connection timed out (the bus timed out: a device may hold SCL or SDA low)
  i2c-5  -        given up after 4 failed probes, the last at 0x06: ETIMEDOUT: Connection timed out (the bus timed out: a device may hold SCL or SDA low)
  i2c-6  -        no device answered
";

fn all_buses() -> Vec<u32> {
    vec![1, 2, 3, 4, 5, 6]
}

#[test]
fn lists_identifies_and_proposes_files() {
    let mut board = board();
    board.buses.insert(6, Default::default());
    let (result, out) = run_on(&board, &settings(&all_buses(), None, false));
    // Bus 2 and bus 5 were not scanned to the end.
    assert_eq!(result.unwrap(), 2);
    let (listing, rest) = out.split_once("\n\n").unwrap();
    assert_eq!(format!("{listing}\n"), LISTING);
    let rest = rest.strip_prefix(NO_SYSFS_DEVICES).unwrap();
    assert_eq!(
        rest,
        "Sensor files (--write DIR writes them):\n\
         \n--- mcp9808-i2c1-18.toml ---\n\
         # MCP9808 on i2c-1 at 0x18, identified by `edge-sidecar scan` (manufacturer id 0x06 = 0x0054, device id 0x07 = 0x0400).\n\
         # Its values, and the driver's options: SENSORS.md, driver \"mcp9808\".\n\
         bus = 1\naddress = 0x18\ndriver = \"mcp9808\"\nprefix = \"mcp9808_\"\n\
         \n\n--- ina226-i2c1-40.toml ---\n\
         # INA226 on i2c-1 at 0x40, identified by `edge-sidecar scan` (die id 0xFF = 0x2260, manufacturer id 0xFE = 0x5449).\n\
         # Its values, and the driver's options: SENSORS.md, driver \"ina226\".\n\
         bus = 1\naddress = 0x40\ndriver = \"ina226\"\nprefix = \"ina226_\"\n\
         \n\n--- bme280-i2c1-76.toml ---\n\
         # BME280 on i2c-1 at 0x76, identified by `edge-sidecar scan` (chip id 0xD0 = 0x60).\n\
         # Its values, and the driver's options: SENSORS.md, driver \"bme280\".\n\
         bus = 1\naddress = 0x76\ndriver = \"bme280\"\nprefix = \"bme280_i2c1_76_\"\n\
         \n\n--- bmp280-i2c1-77.toml ---\n\
         # BMP280 on i2c-1 at 0x77, identified by `edge-sidecar scan` (chip id 0xD0 = 0x58).\n\
         # Its values, and the driver's options: SENSORS.md, driver \"bmp280\".\n\
         bus = 1\naddress = 0x77\ndriver = \"bmp280\"\nprefix = \"bmp280_\"\n\
         \n\n--- bmp390-i2c3-77.toml ---\n\
         # BMP390 on i2c-3 at 0x77, identified by `edge-sidecar scan` (chip id 0x00 = 0x60).\n\
         # Its values, and the driver's options: SENSORS.md, driver \"bmp390\".\n\
         bus = 3\naddress = 0x77\ndriver = \"bmp390\"\nprefix = \"bmp390_\"\n\
         \n\n--- bme280-i2c4-77.toml ---\n\
         # BME280 on i2c-4 at 0x77, identified by `edge-sidecar scan` (chip id 0xD0 = 0x60).\n\
         # Its values, and the driver's options: SENSORS.md, driver \"bme280\".\n\
         bus = 4\naddress = 0x77\ndriver = \"bme280\"\nprefix = \"bme280_i2c4_77_\"\n\
         \n\nnodes.conf line for edge-node-01 (files in the scripts directory):\n\
         edge-node-01=i2c:mcp9808-i2c1-18.toml,i2c:ina226-i2c1-40.toml,i2c:bme280-i2c1-76.toml,\
         i2c:bmp280-i2c1-77.toml,i2c:bmp390-i2c3-77.toml,i2c:bme280-i2c4-77.toml\n"
    );
}

#[test]
fn nothing_is_ever_written_and_only_the_table_s_registers_are_read() {
    let board = board();
    run_on(&board, &settings(&[1, 2, 3, 4, 5], None, false))
        .0
        .unwrap();
    let log = board.log.borrow();
    let writes: Vec<_> = log
        .iter()
        .filter(|(_, _, op)| matches!(op, Op::Write(_) | Op::PlainRead))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    drop(log);

    // Every address of bus 1 was selected and probed once, except the held one.
    use Op::*;
    for address in FIRST_ADDRESS..=LAST_ADDRESS {
        let ops = board.ops_at(1, address);
        match address {
            0x41 => assert_eq!(ops, [Select], "held: left alone"),
            0x40 => assert_eq!(
                ops,
                [Select, ReceiveByte, ReadWordData(0xFF), ReadWordData(0xFE)],
                "die id first, then the manufacturer id; identified, nothing more"
            ),
            0x18 => assert_eq!(
                ops,
                [Select, ReceiveByte, ReadWordData(0x06), ReadWordData(0x07)]
            ),
            0x76 | 0x77 => assert_eq!(ops, [Select, ReceiveByte, ReadByteData(0xD0)]),
            // An SHT3x/SHT4x address, but also an INA2xx one: the TI die id and the
            // INA219 configuration are read (neither pointer is an SHT command);
            // neither matched, so not the manufacturer id.
            0x44 => assert_eq!(
                ops,
                [Select, ReceiveByte, ReadWordData(0xFF), ReadWordData(0x00)]
            ),
            // Nothing answered.
            _ => assert_eq!(ops, [Select, ReceiveByte], "{address:#04x}"),
        }
    }
    // The BMP390: 0xD0 first, which is not a Bosch chip id, then 0x00.
    assert_eq!(
        board.ops_at(3, 0x77),
        [Select, ReceiveByte, ReadByteData(0xD0), ReadByteData(0x00)]
    );
    // The INA219: each TI die id register read once (cached), then the power-on value.
    assert_eq!(
        board.ops_at(3, 0x45),
        [Select, ReceiveByte, ReadWordData(0xFF), ReadWordData(0x00)]
    );
    // A device that refuses register reads: every Bosch id register tried once.
    assert_eq!(
        board.ops_at(3, 0x76),
        [Select, ReceiveByte, ReadByteData(0xD0), ReadByteData(0x00)]
    );
    // The stuck bus is left after MAX_FAILED_PROBES probes.
    assert_eq!(board.ops_at(5, 0x06), [Select, ReceiveByte]);
    assert!(board.ops_at(5, 0x07).is_empty());
    // The unreadable bus: not even an address selected.
    assert!(board.log.borrow().iter().all(|(bus, _, _)| *bus != 2));
}

#[test]
fn files_load_with_the_sensor_file_loader_and_the_line_with_nodes_conf() {
    let board = board();
    let scans: Vec<BusScan> = [1, 3, 4]
        .into_iter()
        .map(|n| scan_bus(n, board.open(n).as_mut()))
        .collect();
    let report = Report::from_i2c("/dev", &scans, 0);
    assert_eq!(report.problems, 0);
    let mut drivers = Vec::new();
    for file in &report.files {
        // Every file reads as written, with the driver of its chip.
        let source = I2cSource::from_toml(&file.text, &file.name)
            .unwrap_or_else(|error| panic!("{}: {error}", file.name));
        assert!(file.name.starts_with(source.driver_name()), "{}", file.name);
        drivers.push(source.driver_name().to_string());
        if file.name == "bmp280-i2c1-77.toml" {
            // SENSORS.md shows this very file.
            let doc = std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("SENSORS.md"),
            )
            .unwrap();
            assert!(doc.contains(&format!("```toml\n{}```", file.text)));
            assert_eq!((source.bus(), source.address()), (1, 0x77));
            assert_eq!(
                source.names(),
                ["bmp280_temperature_celsius", "bmp280_pressure_pascals"]
            );
        }
    }
    drivers.sort();
    assert_eq!(
        drivers,
        ["bme280", "bme280", "bmp280", "bmp390", "ina226", "mcp9808"]
    );
    let line = report.nodes_line("edge-node-01").unwrap();
    let conf = config::parse(&line, "nodes.conf", Duration::from_secs(15)).unwrap();
    let files: Vec<String> = conf
        .sources_for("edge-node-01")
        .iter()
        .filter_map(|source| source.kind.file_name())
        .collect();
    let names: Vec<&String> = report.files.iter().map(|f| &f.name).collect();
    assert_eq!(files.iter().collect::<Vec<_>>(), names);
    assert!(conf
        .sources_for("edge-node-01")
        .iter()
        .all(|s| s.kind.kind_label() == "i2c"));
}

#[test]
fn write_puts_the_files_in_the_directory_and_never_replaces_one_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let board = board();
    let (result, out) = run_on(&board, &settings(&[4], Some(dir.path().into()), false));
    assert_eq!(result.unwrap(), 0);
    let path = dir.path().join("bme280-i2c4-77.toml");
    assert!(
        out.contains(&format!("wrote {}\n", path.display())),
        "{out}"
    );
    assert!(
        out.ends_with("edge-node-01=i2c:bme280-i2c4-77.toml\n"),
        "{out}"
    );
    assert!(
        !out.contains("---"),
        "the files are written, not printed: {out}"
    );
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(written.contains("bus = 4\naddress = 0x77\ndriver = \"bme280\"\n"));

    std::fs::write(&path, "mine\n").unwrap();
    let (result, out) = run_on(&board, &settings(&[4], Some(dir.path().into()), false));
    let error = result.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{} exists (--force replaces it); no file written",
            path.display()
        )
    );
    assert!(!out.contains("nodes.conf line"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "mine\n");

    let (result, _) = run_on(&board, &settings(&[4], Some(dir.path().into()), true));
    assert_eq!(result.unwrap(), 0);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), written);
    // Nothing but the file: no temp file left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn without_identified_chips_there_is_no_file_and_no_line() {
    let board = board();
    let (result, out) = run_on(&board, &settings(&[3], None, false));
    assert_eq!(result.unwrap(), 0);
    assert!(out.contains("BMP390"));
    let board = Board {
        buses: BTreeMap::from([(
            1,
            Wiring {
                held: BTreeSet::from([0x40]),
                ..Default::default()
            },
        )]),
        log: Rc::default(),
    };
    let (result, out) = run_on(&board, &settings(&[1], None, false));
    assert_eq!(result.unwrap(), 0);
    assert!(out.ends_with(
        "  i2c-1  0x40     UU: held by a kernel driver, not probed\n\n\
         IIO devices (/nonexistent-sysfs/bus/iio/devices, read by the kernel's drivers):\n  none\n\n\
         1-Wire thermometers (/nonexistent-sysfs/bus/w1/devices):\n  none\n\n\
         No sensor files: no chip with a sidecar driver was identified.\n"
    ));
}

#[test]
fn no_buses_is_said_so() {
    let dev = tempfile::tempdir().unwrap();
    let board = board();
    let mut settings = settings(&[], None, false);
    settings.dev_root = dev.path().into();
    let (result, out) = run_on(&board, &settings);
    assert_eq!(result.unwrap(), 0);
    assert_eq!(
        out,
        format!(
            "I2C devices ({0}/i2c-N, addresses 0x03-0x77 probed with a read as `i2cdetect -y -r` does):\n  \
             no I2C buses: no {0}/i2c-N (is the bus enabled and the i2c-dev module loaded?)\n\n\
             {1}No sensor files: no chip with a sidecar driver was identified.\n",
            dev.path().display(),
            NO_SYSFS_DEVICES
        )
    );
    settings.dev_root = dev.path().join("missing");
    let error = run_on(&board, &settings).0.unwrap_err();
    assert!(error.to_string().starts_with("listing "), "{error}");
}

#[test]
fn kernel_driven_devices_are_listed_with_their_nodes_conf_entries() {
    let sys = tempfile::tempdir().unwrap();
    let iio = sys.path().join("bus/iio/devices");
    // Two BME280s (one name: entries by index) and a magnetometer, a channel type
    // without a unit here: listed with why it is not read, no entry.
    for (device, name, file, value) in [
        ("iio:device0", "bme280", "in_temp_input", "23450"),
        ("iio:device1", "bme280", "in_temp_input", "19000"),
        ("iio:device2", "hmc5843", "in_magn_x_raw", "12"),
    ] {
        let dir = iio.join(device);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("name"), format!("{name}\n")).unwrap();
        std::fs::write(dir.join(file), value).unwrap();
    }
    let w1 = sys.path().join("bus/w1/devices");
    for probe in ["28-00000a1b2c3d", "10-000802b4a5c6"] {
        std::fs::create_dir_all(w1.join(probe)).unwrap();
        std::fs::write(w1.join(probe).join("w1_slave"), "ok").unwrap();
    }
    // A 1-Wire EEPROM (family 2d) is not a thermometer.
    std::fs::create_dir_all(w1.join("2d-000000a1b2c3")).unwrap();
    let board = Board {
        buses: BTreeMap::new(),
        log: Rc::default(),
    };
    let mut settings = settings(&[], None, false);
    let dev = tempfile::tempdir().unwrap();
    settings.dev_root = dev.path().into();
    settings.sysfs_root = sys.path().into();
    let (result, out) = run_on(&board, &settings);
    assert_eq!(result.unwrap(), 0);
    let root = sys.path().display();
    assert!(
        out.contains(&format!(
            "IIO devices ({root}/bus/iio/devices, read by the kernel's drivers):\n  \
             DEVICE       NAME    VALUES\n  \
             iio:device0  bme280  temperature_celsius\n  \
             iio:device1  bme280  temperature_celsius\n  \
             iio:device2  -       not read: {root}/bus/iio/devices/iio:device2: \
             no channel with a known unit (skipped: in_magn_x_raw)\n"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "1-Wire thermometers ({root}/bus/w1/devices):\n  \
             ID               CHIP     FILE\n  \
             10-000802b4a5c6  DS18S20  {root}/bus/w1/devices/10-000802b4a5c6/w1_slave\n  \
             28-00000a1b2c3d  DS18B20  {root}/bus/w1/devices/28-00000a1b2c3d/w1_slave\n"
        )),
        "{out}"
    );
    assert!(out.ends_with("edge-node-01=iio:0,iio:1,w1:*\n"), "{out}");
    // The line is one nodes.conf takes.
    let line = out.lines().last().unwrap();
    let conf = config::parse(line, "nodes.conf", Duration::from_secs(15)).unwrap();
    assert_eq!(conf.sources_for("edge-node-01").len(), 3);
}
