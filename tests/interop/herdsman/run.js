// zigbee-herdsman (its ember adapter, the version package.json pins) on an emulated dongle.
//
//   node run.js CONFIG.json
//
// CONFIG: {"path": "tcp://127.0.0.1:PORT", "dataDir": DIR, "panID": N, "extendedPanID": [8 bytes],
//          "channel": N, "networkKey": [16 bytes], "joinTimeoutS": N}
// Starts a Controller (forms the configured network or resumes it), stops it, starts it again (must
// resume the same network), permits joining and waits for one device to join, then stops.  Every step
// is one JSON line on stdout: {"event": NAME, ...}.  Exits 0 when every step happened, 1 otherwise
// (the failing step is printed as {"event": "error", "message": ...}).
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const { Controller, setLogger } = require("zigbee-herdsman");

const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const emit = (event, fields = {}) => process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);

// herdsman's log goes to stderr (the test shows it when a step fails)
const log = (level) => (message, namespace) => {
    const text = typeof message === "function" ? message() : message;
    process.stderr.write(`${level} ${namespace}: ${text}\n`);
};
setLogger({ debug: log("debug"), info: log("info"), warning: log("warning"), error: log("error") });

function controller() {
    return new Controller({
        network: {
            panID: config.panID,
            extendedPanID: config.extendedPanID,
            channelList: [config.channel],
            networkKey: config.networkKey,
        },
        // 11.x reads `transport` ("unified transport", 11.0.0); 10.x read `serialPort`
        transport: { path: config.path, adapter: "ember" },
        serialPort: { path: config.path, adapter: "ember" },
        databasePath: path.join(config.dataDir, "database.db"),
        databaseBackupPath: path.join(config.dataDir, "database.db.backup"),
        backupPath: path.join(config.dataDir, "coordinator_backup.json"),
        adapter: { disableLED: false, concurrent: 8 },
        acceptJoiningDeviceHandler: async () => true,
    });
}

async function started(ctl, label) {
    const result = await ctl.start();
    const info = await ctl.getNetworkParameters();
    const coordinator = await ctl.getCoordinatorVersion();
    emit("started", { label, result, panID: info.panID, extendedPanID: info.extendedPanID.toString(),
                      channel: info.channel, ieee: ctl.getDevicesByType("Coordinator")[0]?.ieeeAddr,
                      coordinator });
}

async function main() {
    let ctl = controller();
    await started(ctl, "first");
    await ctl.stop();
    emit("stopped", { label: "first" });

    ctl = controller();
    await started(ctl, "second");
    const joined = new Promise((resolve) => ctl.on("deviceJoined", resolve));
    await ctl.permitJoin(config.joinTimeoutS);
    emit("permitting", { seconds: config.joinTimeoutS });
    const timeout = new Promise((_, reject) =>
        setTimeout(() => reject(new Error(`no device joined within ${config.joinTimeoutS} s`)),
                   config.joinTimeoutS * 1000));
    const device = await Promise.race([joined, timeout]);
    emit("deviceJoined", { ieee: device.device.ieeeAddr, networkAddress: device.device.networkAddress });
    await ctl.stop();
    emit("stopped", { label: "second" });
}

main().then(
    () => process.exit(0),
    (error) => {
        emit("error", { message: String(error?.stack ?? error) });
        process.exit(1);
    },
);
