"""Routing and binding area: binding table, neighbour, route and source-route tables, child data.

The binding table is kept in NV (EmberZNet stores it in tokens); the source-route table and the
route/neighbour figures are RAM.  The virtual air is one hop wide ([I] every device the stack knows
is a neighbour of link cost 1; nothing is ever relayed, so the route table has no active entry).
"""

from __future__ import annotations

import bellows.types as t
import zigpy.types as zt

from ..ezsp import ZeroRest
from .base import Area

#: [I] gecko_sdk NCP defaults (EMBER_BINDING_TABLE_SIZE 32 on the zigbee_pro_stack NCP image is set by
#: CONFIG_BINDING_TABLE_SIZE; a fresh NCP reports 0 until the host sizes it, bellows sizes it to 32).
BINDING_TABLE_SIZE = 32
ROUTE_TABLE_SIZE = 16
NEIGHBOR_TABLE_SIZE = 16
#: EmberZNet's default routing shortcut threshold (ember-configuration-defaults.h: 2)
ROUTING_SHORTCUT_THRESHOLD = 2


def _unused_binding() -> dict:
    return {"type": t.EmberBindingType.UNUSED_BINDING, "local": 0, "clusterId": 0, "remote": 0,
            "identifier": zt.EUI64(bytes(8)), "networkIndex": 0}


class RoutingArea(Area):
    """Bindings, neighbours, routes, source routes, concentrator figures."""

    # --- binding table (NV) ---------------------------------------------------------------------
    def _bindings(self) -> dict:
        return self.nv.state.bindings

    def _binding_size(self) -> int:
        return int(self.state.config.get(t.EzspConfigId.CONFIG_BINDING_TABLE_SIZE, 0)) or BINDING_TABLE_SIZE

    def cmd_setBinding(self, p):
        index = int(p["index"])
        if index >= self._binding_size():
            return {"status": "INVALID_INDEX"}        # EMBER_INDEX_OUT_OF_RANGE
        v = p["value"]
        self._bindings()[str(index)] = {"type": int(v.type), "local": int(v.local), "clusterId": int(v.clusterId),
                                        "remote": int(v.remote), "identifier": bytes(v.identifier).hex(),
                                        "networkIndex": int(v.networkIndex), "nodeId": 0xFFFF}
        self.nv.save()
        return {"status": "OK"}

    def cmd_getBinding(self, p):
        index = int(p["index"])
        if index >= self._binding_size():
            return ZeroRest(status="INVALID_INDEX")
        entry = self._bindings().get(str(index))
        if entry is None:
            return {"status": "OK", "value": _unused_binding()}
        value = {k: entry[k] for k in ("type", "local", "clusterId", "remote", "networkIndex")}
        value["identifier"] = zt.EUI64(bytes.fromhex(entry["identifier"]))
        return {"status": "OK", "value": value}

    def cmd_deleteBinding(self, p):
        index = int(p["index"])
        if index >= self._binding_size():
            return {"status": "INVALID_INDEX"}
        self._bindings().pop(str(index), None)
        self.nv.save()
        return {"status": "OK"}

    def cmd_clearBindingTable(self, p):
        self._bindings().clear()
        self.nv.save()
        return {"status": "OK"}

    def cmd_clearBindingTableOnLeave(self, p):             # v19
        self.state.clear_bindings_on_leave = bool(p["clear"])
        return {}

    def cmd_bindingIsActive(self, p):
        # [I] a binding is "active" while a message sent through it awaits its APS ack; sends through
        # bindings are not emulated, so none ever is
        return {"active": False}

    def cmd_getBindingRemoteNodeId(self, p):
        entry = self._bindings().get(str(int(p["index"])))
        return {"nodeId": entry.get("nodeId", 0xFFFF) if entry else 0xFFFF}   # 0xFFFF: unknown

    def cmd_setBindingRemoteNodeId(self, p):
        entry = self._bindings().get(str(int(p["index"])))
        if entry is not None:
            entry["nodeId"] = int(p["nodeId"])
            self.nv.save()
        return {}

    # --- neighbours and routes --------------------------------------------------------------------
    def _neighbours(self) -> list[tuple[int, int]]:
        """(EUI-64 as int, short) of the devices the stack knows, excluding itself, in join order."""
        devices = getattr(self.stack, "devices", None) or {}
        if not self.state.network_up:
            return []
        me = self.network.node_id
        return [(eui, nwk) for eui, nwk in list(devices.items()) if nwk != me][:NEIGHBOR_TABLE_SIZE]

    def cmd_neighborCount(self, p):
        return {"value": len(self._neighbours())}

    def cmd_getNeighbor(self, p):
        neighbours = self._neighbours()
        index = int(p["index"])
        if index >= len(neighbours):
            return ZeroRest(status="NOT_FOUND")          # EMBER_ERR_FATAL on v13 (no entry at index)
        eui, nwk = neighbours[index]
        return {"status": "OK", "value": {"shortId": nwk, "averageLqi": 255, "inCost": 1, "outCost": 1,
                                           "age": 3, "longId": zt.EUI64(eui.to_bytes(8, "little"))}}

    def cmd_getNeighborFrameCounter(self, p):
        counters = getattr(self.stack, "incoming_fc", None) or {}     # the NWK counters the stack checks
        eui = int.from_bytes(bytes(p["eui64"]), "little")
        if eui not in counters:
            return {"status": "NOT_FOUND", "frameCounter": 0}
        return {"status": "OK", "frameCounter": counters[eui]}

    def cmd_setNeighborFrameCounter(self, p):
        counters = getattr(self.stack, "incoming_fc", None)
        eui = int.from_bytes(bytes(p["eui64"]), "little")
        if counters is None or eui not in counters:
            return {"status": "NOT_FOUND"}
        counters[eui] = int(p["frame_counter"])
        return {"status": "OK"}

    def cmd_getRouteTableEntry(self, p):
        index = int(p["index"])
        if index >= ROUTE_TABLE_SIZE:
            return ZeroRest(status="INVALID_INDEX")
        # every entry unused: destination 0xFFFF, status UNUSED (3)
        return {"status": "OK", "value": {"destination": 0xFFFF, "nextHop": 0xFFFF, "status": 3, "age": 0,
                                           "concentratorType": 0, "routeRecordState": 0}}

    def cmd_setRoutingShortcutThreshold(self, p):
        self.state.routing_shortcut_threshold = int(p["index"])
        return {"status": "OK"}

    def cmd_getRoutingShortcutThreshold(self, p):
        return {"routingShortcutThresh": self.state.routing_shortcut_threshold}

    def cmd_setBrokenRouteErrorCode(self, p):
        self.state.broken_route_error_code = int(p["errorCode"])
        return {"status": "OK"}

    def cmd_sendManyToOneRouteRequest(self, p):
        if not self.state.network_up:
            return {"status": "NETWORK_DOWN"}
        if int(p["concentratorType"]) not in (0xFFF8, 0xFFF9):   # low / high RAM concentrator
            return {"status": "INVALID_PARAMETER"}
        return {"status": "OK"}          # [I] one hop: the route request reaches only neighbours

    def cmd_setPassiveAckConfig(self, p):
        self.state.passive_ack = (int(p["config"]), int(p["minAcksNeeded"]))
        return {"status": "OK"}

    # --- source routes (RAM) --------------------------------------------------------------------
    def _source_route_size(self) -> int:
        return int(self.state.config.get(t.EzspConfigId.CONFIG_SOURCE_ROUTE_TABLE_SIZE, 0))

    def cmd_setSourceRoute(self, p):
        relays = [int(r) for r in p["relayList"]]
        destination = int(p["destination"])
        if destination not in self.state.source_routes and len(self.state.source_routes) >= \
                self._source_route_size():
            return {"status": "FULL"}
        self.state.source_routes[destination] = relays
        return {"status": "OK"}

    def cmd_getSourceRouteTableTotalSize(self, p):
        return {"sourceRouteTableTotalSize": min(self._source_route_size(), 0xFF)}

    def cmd_getSourceRouteTableFilledSize(self, p):
        return {"sourceRouteTableFilledSize": len(self.state.source_routes)}

    def cmd_getSourceRouteTableEntry(self, p):
        index = int(p["index"])
        routes = list(self.state.source_routes.items())
        if index >= len(routes):
            return {"status": "NOT_FOUND", "destination": 0xFFFF, "closerIndex": 0xFF}
        destination, relays = routes[index]
        # closerIndex: the entry of the next relay towards us; 0xFF when the destination is a neighbour
        closer = 0xFF
        if relays:
            keys = [d for d, _ in routes]
            closer = keys.index(relays[0]) if relays[0] in keys else 0xFF
        return {"status": "OK", "destination": destination, "closerIndex": closer}

    # --- children -------------------------------------------------------------------------------
    def cmd_childId(self, p):
        children = self.state.children
        index = int(p["childIndex"])
        return {"childId": children[index]["id"] if index < len(children) else 0xFFFF}

    def cmd_setChildData(self, p):
        index = int(p["index"])
        size = int(self.state.config.get(t.EzspConfigId.CONFIG_MAX_END_DEVICE_CHILDREN, 0))
        if index >= size:
            return {"status": "INVALID_INDEX"}
        c = p["child_data"]
        entry = {"eui64": bytes(c.eui64), "type": int(c.type), "id": int(c.id), "phy": int(c.phy),
                 "power": int(c.power), "timeout": int(c.timeout)}
        children = self.state.children
        if index < len(children):
            children[index] = entry
        else:
            children.append(entry)
        return {"status": "OK"}
