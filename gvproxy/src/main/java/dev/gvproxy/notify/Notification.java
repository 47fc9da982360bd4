package dev.gvproxy.notify;

import dev.gvproxy.model.GoJson;

/**
 * One notification (spec 1.11): {@code {"notification_type":"<type>"}} plus {@code "mac_address"} when set.
 *
 * @param type {@code ready}, {@code connection_established}, {@code connection_closed} or {@code hypervisor_error}
 * @param macAddress lower-case colon MAC, or {@code ""}
 */
public record Notification(String type, String macAddress) {
    public static final String READY = "ready";
    public static final String CONNECTION_ESTABLISHED = "connection_established";
    public static final String CONNECTION_CLOSED = "connection_closed";
    public static final String HYPERVISOR_ERROR = "hypervisor_error";

    public Notification {
        macAddress = macAddress == null ? "" : macAddress;
    }

    public static Notification of(String type) {
        return new Notification(type, "");
    }

    /** The JSON object as gvproxy writes it (without the trailing newline). */
    public String toJson() {
        String s = "{\"notification_type\":" + GoJson.string(type);
        if (!macAddress.isEmpty()) {
            s += ",\"mac_address\":" + GoJson.string(macAddress);
        }
        return s + "}";
    }
}
