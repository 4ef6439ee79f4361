"""Host roles on EZSP dongles: ``ezsp_role`` (shared EZSP helpers), ``hht`` (HHT), ``ppmid`` (dual-address PPMID)."""
