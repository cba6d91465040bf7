"""The simulated retailer's fixed world: places, locations, carriers, products and names.

Coordinates are real (city centres, distribution-centre towns); UTC offsets are US standard
time (no daylight saving: the default start is in November). Everything random about the
world (which SKUs exist, their prices and popularity) is drawn from the simulation's seeded
generator in `catalog`.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Place:
    city: str
    region: str
    postal_code: str
    latitude: float
    longitude: float
    utc_offset: int  # hours, standard time

    @property
    def scan_location(self) -> dict:
        return {
            "city": self.city,
            "region": self.region,
            "country": "US",
            "postal_code": self.postal_code,
        }


@dataclass(frozen=True)
class City:
    place: Place
    weight: float  # share of the retailer's customers (roughly the metro population)
    postal_codes: int  # postal codes from place.postal_code upwards that belong to it


@dataclass(frozen=True)
class Location:
    location_id: str
    name: str
    kind: str  # warehouse | store
    place: Place
    ships_orders: bool
    source: str  # the system that reports its events
    opens: int  # local hour the floor starts picking / receiving
    closes: int  # local hour it stops
    pickups: tuple[int, ...]  # local hours the carriers collect

    @property
    def is_warehouse(self) -> bool:
        return self.kind == "warehouse"


ET, CT, MT, PT = -5, -6, -7, -8


def _city(city, region, postal, lat, lon, tz, weight, codes=20) -> City:
    return City(Place(city, region, postal, lat, lon, tz), weight, codes)


CITIES = (
    _city("New York", "NY", "10001", 40.7506, -73.9972, ET, 8.0, 80),
    _city("Brooklyn", "NY", "11201", 40.6782, -73.9442, ET, 3.0, 40),
    _city("Newark", "NJ", "07102", 40.7357, -74.1724, ET, 1.2),
    _city("Philadelphia", "PA", "19103", 39.9526, -75.1652, ET, 3.0, 40),
    _city("Boston", "MA", "02108", 42.3601, -71.0589, ET, 2.6, 30),
    _city("Providence", "RI", "02903", 41.8240, -71.4128, ET, 0.8),
    _city("Hartford", "CT", "06103", 41.7658, -72.6734, ET, 0.6),
    _city("Baltimore", "MD", "21201", 39.2904, -76.6122, ET, 1.4),
    _city("Washington", "DC", "20001", 38.9072, -77.0369, ET, 3.0, 30),
    _city("Richmond", "VA", "23219", 37.5407, -77.4360, ET, 0.7),
    _city("Pittsburgh", "PA", "15222", 40.4406, -79.9959, ET, 1.2),
    _city("Buffalo", "NY", "14202", 42.8864, -78.8784, ET, 0.6),
    _city("Charlotte", "NC", "28202", 35.2271, -80.8431, ET, 1.3),
    _city("Raleigh", "NC", "27601", 35.7796, -78.6382, ET, 0.8),
    _city("Atlanta", "GA", "30303", 33.7490, -84.3880, ET, 3.0, 30),
    _city("Jacksonville", "FL", "32202", 30.3322, -81.6557, ET, 0.8),
    _city("Orlando", "FL", "32801", 28.5383, -81.3792, ET, 1.3),
    _city("Tampa", "FL", "33602", 27.9506, -82.4572, ET, 1.6),
    _city("Miami", "FL", "33130", 25.7617, -80.1918, ET, 3.0, 30),
    _city("Nashville", "TN", "37203", 36.1627, -86.7816, CT, 1.0),
    _city("Memphis", "TN", "38103", 35.1495, -90.0490, CT, 0.7),
    _city("Louisville", "KY", "40202", 38.2527, -85.7585, ET, 0.6),
    _city("Cincinnati", "OH", "45202", 39.1031, -84.5120, ET, 1.1),
    _city("Columbus", "OH", "43215", 39.9612, -82.9988, ET, 1.1),
    _city("Cleveland", "OH", "44114", 41.4993, -81.6944, ET, 1.0),
    _city("Detroit", "MI", "48226", 42.3314, -83.0458, ET, 2.1),
    _city("Indianapolis", "IN", "46204", 39.7684, -86.1581, ET, 1.1),
    _city("Chicago", "IL", "60602", 41.8781, -87.6298, CT, 4.5, 50),
    _city("Milwaukee", "WI", "53202", 43.0389, -87.9065, CT, 0.8),
    _city("Minneapolis", "MN", "55401", 44.9778, -93.2650, CT, 1.8),
    _city("St. Louis", "MO", "63101", 38.6270, -90.1994, CT, 1.4),
    _city("Kansas City", "MO", "64105", 39.0997, -94.5786, CT, 1.1),
    _city("New Orleans", "LA", "70112", 29.9511, -90.0715, CT, 0.6),
    _city("Dallas", "TX", "75201", 32.7767, -96.7970, CT, 3.5, 40),
    _city("Houston", "TX", "77002", 29.7604, -95.3698, CT, 3.5, 40),
    _city("San Antonio", "TX", "78205", 29.4241, -98.4936, CT, 1.3),
    _city("Austin", "TX", "78701", 30.2672, -97.7431, CT, 1.2),
    _city("Oklahoma City", "OK", "73102", 35.4676, -97.5164, CT, 0.7),
    _city("Denver", "CO", "80202", 39.7392, -104.9903, MT, 1.5),
    _city("Salt Lake City", "UT", "84101", 40.7608, -111.8910, MT, 0.6),
    _city("Phoenix", "AZ", "85004", 33.4484, -112.0740, MT, 2.3),
    _city("Albuquerque", "NM", "87102", 35.0844, -106.6504, MT, 0.4),
    _city("Las Vegas", "NV", "89101", 36.1699, -115.1398, PT, 1.1),
    _city("Los Angeles", "CA", "90012", 34.0522, -118.2437, PT, 6.0, 80),
    _city("San Diego", "CA", "92101", 32.7157, -117.1611, PT, 1.6),
    _city("San Francisco", "CA", "94103", 37.7749, -122.4194, PT, 2.0, 30),
    _city("San Jose", "CA", "95113", 37.3382, -121.8863, PT, 1.0),
    _city("Sacramento", "CA", "95814", 38.5816, -121.4944, PT, 1.0),
    _city("Portland", "OR", "97204", 45.5152, -122.6784, PT, 1.2),
    _city("Seattle", "WA", "98101", 47.6062, -122.3321, PT, 2.0, 30),
)


# fmt: off
_LOCATION_ROWS = (
    # id, name, kind, (city, region, postal code, lat, lon, utc offset), ships, source,
    # opens, closes, carrier pickups (local hours)
    ("WH-NJ", "Northeast DC - Edison", "warehouse",
     ("Edison", "NJ", "08817", 40.5187, -74.4121, ET), True, "wms-east", 6, 23, (13, 19)),
    ("WH-GA", "Southeast DC - McDonough", "warehouse",
     ("McDonough", "GA", "30253", 33.4473, -84.1469, ET), True, "wms-east", 6, 23, (13, 19)),
    ("WH-IL", "Midwest DC - Joliet", "warehouse",
     ("Joliet", "IL", "60436", 41.5250, -88.0817, CT), True, "wms-central", 6, 23, (13, 19)),
    ("WH-TX", "South Central DC - Lancaster", "warehouse",
     ("Lancaster", "TX", "75134", 32.5921, -96.7561, CT), True, "wms-central", 6, 23, (13, 19)),
    ("WH-CA", "West DC - Ontario", "warehouse",
     ("Ontario", "CA", "91761", 34.0633, -117.6509, PT), True, "wms-west", 6, 23, (13, 19)),
    ("WH-WA", "Northwest DC - Kent", "warehouse",
     ("Kent", "WA", "98032", 47.3809, -122.2348, PT), True, "wms-west", 6, 22, (18,)),
    ("ST-NYC", "Fifth Avenue Store", "store",
     ("New York", "NY", "10019", 40.7614, -73.9776, ET), True, "pos-nyc", 10, 20, (17,)),
    ("ST-BKN", "Williamsburg Store", "store",
     ("Brooklyn", "NY", "11249", 40.7171, -73.9586, ET), False, "pos-bkn", 10, 20, ()),
    ("ST-BOS", "Newbury Street Store", "store",
     ("Boston", "MA", "02116", 42.3503, -71.0810, ET), True, "pos-bos", 10, 20, (17,)),
    ("ST-MIA", "Brickell City Centre Store", "store",
     ("Miami", "FL", "33131", 25.7663, -80.1932, ET), True, "pos-mia", 10, 21, (17,)),
    ("ST-CHI", "Michigan Avenue Store", "store",
     ("Chicago", "IL", "60611", 41.8947, -87.6243, CT), False, "pos-chi", 10, 20, ()),
    ("ST-DEN", "Cherry Creek Store", "store",
     ("Denver", "CO", "80206", 39.7186, -104.9536, MT), True, "pos-den", 10, 20, (17,)),
    ("ST-AUS", "South Congress Store", "store",
     ("Austin", "TX", "78704", 30.2500, -97.7494, CT), False, "pos-aus", 10, 20, ()),
    ("ST-SF", "Union Square Store", "store",
     ("San Francisco", "CA", "94108", 37.7880, -122.4075, PT), True, "pos-sf", 10, 20, (17,)),
    ("ST-SEA", "Pike Place Store", "store",
     ("Seattle", "WA", "98101", 47.6097, -122.3422, PT), False, "pos-sea", 10, 20, ()),
)
# fmt: on
LOCATIONS = tuple(
    Location(lid, name, kind, Place(*place), ships, source, opens, closes, pickups)
    for lid, name, kind, place, ships, source, opens, closes, pickups in _LOCATION_ROWS
)

# Carrier sort hubs (facility scans): where parcels are scanned between origin and door.
HUBS = (
    Place("Secaucus", "NJ", "07094", 40.7895, -74.0565, ET),
    Place("Philadelphia", "PA", "19153", 39.8729, -75.2437, ET),
    Place("Chelmsford", "MA", "01824", 42.5998, -71.3673, ET),
    Place("Landover", "MD", "20785", 38.9340, -76.8966, ET),
    Place("Atlanta", "GA", "30336", 33.7395, -84.5594, ET),
    Place("Jacksonville", "FL", "32219", 30.4058, -81.7676, ET),
    Place("Orlando", "FL", "32824", 28.4158, -81.3967, ET),
    Place("Columbus", "OH", "43207", 39.8961, -82.9707, ET),
    Place("Hodgkins", "IL", "60525", 41.7689, -87.8578, CT),
    Place("Indianapolis", "IN", "46241", 39.7173, -86.2944, ET),
    Place("Memphis", "TN", "38118", 35.0437, -89.9348, CT),
    Place("Louisville", "KY", "40209", 38.1744, -85.7365, ET),
    Place("Hebron", "KY", "41048", 39.0662, -84.7018, ET),
    Place("Earth City", "MO", "63045", 38.7684, -90.4609, CT),
    Place("Mesquite", "TX", "75149", 32.7668, -96.5992, CT),
    Place("Houston", "TX", "77032", 29.9569, -95.3386, CT),
    Place("Commerce City", "CO", "80022", 39.8083, -104.9339, MT),
    Place("Salt Lake City", "UT", "84104", 40.7520, -111.9660, MT),
    Place("Phoenix", "AZ", "85043", 33.4278, -112.1888, MT),
    Place("Ontario", "CA", "91761", 34.0633, -117.6509, PT),
    Place("Oakland", "CA", "94621", 37.7447, -122.2008, PT),
    Place("Portland", "OR", "97218", 45.5724, -122.5951, PT),
    Place("Kent", "WA", "98032", 47.3809, -122.2348, PT),
    Place("Minneapolis", "MN", "55450", 44.8848, -93.2223, CT),
)
AIR_HUBS = {  # the overnight network's sort centre per carrier
    "ups": HUBS[11],  # Louisville Worldport
    "fedex": HUBS[10],  # Memphis
    "dhl": HUBS[12],  # Cincinnati/Northern Kentucky (Hebron)
    "usps": HUBS[9],  # Indianapolis
}

# shipping method -> carrier -> (service, weight)
SERVICES = {
    "standard": {
        "usps": ("ground_advantage", 35),
        "ups": ("ground", 30),
        "fedex": ("home_delivery", 25),
        "dhl": ("ecommerce_ground", 10),
    },
    "expedited": {
        "ups": ("2nd_day_air", 40),
        "fedex": ("2day", 40),
        "usps": ("priority_mail", 20),
    },
    "overnight": {
        "ups": ("next_day_air", 45),
        "fedex": ("priority_overnight", 45),
        "usps": ("priority_mail_express", 5),
        "dhl": ("express_domestic", 5),
    },
}
SHIPPING_METHODS = (("standard", 72), ("expedited", 22), ("overnight", 6))
PROMISED_DAYS = {"standard": 5, "expedited": 2, "overnight": 1}  # delivery days after dispatch


@dataclass(frozen=True)
class CarrierProfile:
    exception: float  # share of parcels with a carrier exception in transit
    failure: float  # share with a failed first delivery attempt
    quiet: float  # share that stop scanning (stalled, some lost)
    late_scan: float  # share of scans that reach us late
    exception_details: tuple[tuple[str, int], ...]


CARRIERS = {
    "ups": CarrierProfile(
        0.025, 0.02, 0.004, 0.03, (("address_issue", 35), ("damaged", 15), ("weather_delay", 50))
    ),
    "fedex": CarrierProfile(
        0.03, 0.02, 0.005, 0.04, (("address_issue", 35), ("damaged", 20), ("weather_delay", 45))
    ),
    "usps": CarrierProfile(
        0.045, 0.035, 0.01, 0.06, (("address_issue", 45), ("damaged", 15), ("weather_delay", 40))
    ),
    "dhl": CarrierProfile(
        0.04,
        0.03,
        0.007,
        0.05,
        (("address_issue", 30), ("damaged", 15), ("weather_delay", 30), ("customs_hold", 25)),
    ),
}

# (carrier, status, status_detail) -> (carrier_code, description); the detail "" is the
# status's default.
_CODES = {
    "ups": {
        ("pre_transit", ""): ("M", "Shipper created a label, UPS has not received the package yet"),
        ("in_transit", "arrived_at_facility"): ("AR", "Arrived at Facility"),
        ("in_transit", "departed_facility"): ("DP", "Departed from Facility"),
        ("in_transit", ""): ("I", "On the Way"),
        ("out_for_delivery", ""): ("OT", "Out For Delivery Today"),
        ("delivered", ""): ("D", "Delivered"),
        ("exception", ""): ("X", "Exception: the package is delayed"),
        ("failure", ""): ("X", "The receiver was not available for delivery"),
        ("available_for_pickup", ""): ("Z", "Ready for pickup at a UPS Access Point"),
        ("return_to_sender", ""): ("RS", "Returning to Sender"),
    },
    "fedex": {
        ("pre_transit", ""): ("OC", "Shipment information sent to FedEx"),
        ("in_transit", "arrived_at_facility"): ("AR", "Arrived at FedEx location"),
        ("in_transit", "departed_facility"): ("DP", "Departed FedEx location"),
        ("in_transit", ""): ("IT", "In transit"),
        ("out_for_delivery", ""): ("OD", "On FedEx vehicle for delivery"),
        ("delivered", ""): ("DL", "Delivered"),
        ("exception", ""): ("DE", "Delivery exception"),
        ("exception", "customs_hold"): ("CD", "Clearance delay"),
        ("failure", ""): ("DE", "Customer not available or business closed"),
        ("available_for_pickup", ""): ("HL", "Ready for pickup at FedEx location"),
        ("return_to_sender", ""): ("RS", "Return to shipper"),
    },
    "usps": {
        ("pre_transit", ""): ("GX", "Shipping Label Created, USPS Awaiting Item"),
        ("in_transit", "arrived_at_facility"): ("10", "Arrived at USPS Regional Facility"),
        ("in_transit", "departed_facility"): ("EF", "Departed USPS Regional Facility"),
        ("in_transit", ""): ("NT", "In Transit to Next Facility"),
        ("out_for_delivery", ""): ("OF", "Out for Delivery"),
        ("delivered", ""): ("01", "Delivered, In/At Mailbox"),
        ("exception", ""): ("51", "Delivery Exception, Animal Interference or Weather"),
        ("exception", "address_issue"): ("21", "Addressee Unknown"),
        ("failure", ""): ("02", "Notice Left (No Authorized Recipient Available)"),
        ("available_for_pickup", ""): ("53", "Available for Pickup at Post Office"),
        ("return_to_sender", ""): ("09", "Return to Sender Processed"),
    },
    "dhl": {
        ("pre_transit", ""): ("PL", "Shipment information received"),
        ("in_transit", "arrived_at_facility"): ("AF", "Arrived at DHL Sort Facility"),
        ("in_transit", "departed_facility"): ("DF", "Departed Facility"),
        ("in_transit", ""): ("PL", "Processed at location"),
        ("out_for_delivery", ""): ("WC", "With delivery courier"),
        ("delivered", ""): ("OK", "Delivered"),
        ("exception", ""): ("OH", "Shipment on hold"),
        ("exception", "customs_hold"): ("CR", "Clearance event: held by customs"),
        ("exception", "address_issue"): ("BA", "Bad address"),
        ("failure", ""): ("NH", "Delivery attempted; recipient not home"),
        ("available_for_pickup", ""): ("HP", "Held for pickup at a DHL ServicePoint"),
        ("return_to_sender", ""): ("RT", "Returned to shipper"),
    },
}


def carrier_code(carrier: str, status: str, detail: str) -> tuple[str, str]:
    codes = _CODES[carrier]
    return codes.get((status, detail)) or codes[(status, "")]


# --- products ---------------------------------------------------------------------------------
# (code, name, price range in dollars, sizes)
_PRODUCTS = (
    ("TEE", "T-shirt", (14, 32), ("XS", "S", "M", "L", "XL", "XXL")),
    ("LSTEE", "Long-sleeve tee", (22, 40), ("S", "M", "L", "XL")),
    ("HOODIE", "Hoodie", (45, 85), ("S", "M", "L", "XL")),
    ("CREW", "Crewneck", (40, 70), ("S", "M", "L", "XL")),
    ("JKT", "Jacket", (90, 240), ("S", "M", "L", "XL")),
    ("VEST", "Vest", (60, 120), ("S", "M", "L")),
    ("JEAN", "Jeans", (55, 130), ("28", "30", "32", "34", "36")),
    ("CHINO", "Chinos", (45, 90), ("30", "32", "34", "36")),
    ("SHORT", "Shorts", (28, 55), ("S", "M", "L", "XL")),
    ("LEGGING", "Leggings", (35, 80), ("XS", "S", "M", "L")),
    ("SOCK-3PK", "Socks 3-pack", (12, 22), ("SM", "LG")),
    ("CAP", "Cap", (22, 38), ("OS",)),
    ("BEANIE", "Beanie", (18, 32), ("OS",)),
    ("SCARF", "Scarf", (30, 60), ("OS",)),
    ("GLOVE", "Gloves", (24, 48), ("S", "M", "L")),
    ("SNKR", "Sneakers", (70, 160), ("7", "8", "9", "10", "11", "12")),
    ("BOOT", "Boots", (120, 260), ("7", "8", "9", "10", "11")),
    ("TOTE", "Tote bag", (25, 60), ("OS",)),
    ("BKPK", "Backpack", (60, 150), ("OS",)),
    ("MUG-12OZ", "Mug", (12, 22), ("OS",)),
    ("BOTTLE", "Water bottle", (20, 45), ("500ML", "1L")),
    ("CANDLE", "Candle", (18, 42), ("OS",)),
    ("BLANKET", "Throw blanket", (60, 140), ("OS",)),
    ("NOTEBK", "Notebook", (9, 24), ("A5", "A4")),
)
_COLORS = ("BLK", "WHT", "GRY", "NVY", "RED", "GRN", "BLU", "OLV", "TAN", "PNK", "BRN", "YEL")


@dataclass(frozen=True)
class Product:
    sku: str
    price_cents: int


def catalog(rng: random.Random, count: int) -> list[Product]:
    """`count` SKUs in popularity order (the first is the best seller)."""
    variants = [
        (code, color, size, prices)
        for code, _name, prices, sizes in _PRODUCTS
        for color, size in itertools.product(_COLORS, sizes)
    ]
    rng.shuffle(variants)
    products = []
    for code, color, size, (low, high) in variants[:count]:
        dollars = rng.randint(low, high)
        cents = rng.choice((99, 99, 99, 0, 50, 95))
        products.append(Product(f"{code}-{color}-{size}", max(1, dollars * 100 + cents - 100)))
    return products


def max_skus() -> int:
    return sum(len(sizes) for *_, sizes in _PRODUCTS) * len(_COLORS)


FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "James", "Isabella", "Lucas",
    "Mia", "Mateo", "Amelia", "Benjamin", "Harper", "Henry", "Evelyn", "Alexander", "Camila",
    "Daniel", "Aaliyah", "Jackson", "Priya", "Wei", "Maya", "Diego", "Fatima", "Hiroshi",
    "Chloe", "Omar", "Grace", "Samuel", "Zoe", "David", "Nora", "Andre", "Lucia", "Ethan",
    "Ana", "Kwame", "Leah", "Ravi", "Sofia", "Isaac", "Hannah", "Jamal", "Mei", "Carlos",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera",
    "Campbell", "Mitchell", "Carter", "Roberts", "Patel", "Kim", "Chen", "Goldberg", "Okafor",
)  # fmt: skip
STREETS = (
    "Main St", "Oak Ave", "Maple St", "Park Ave", "Pine St", "Cedar Ln", "Elm St",
    "Washington Ave", "Lake Dr", "Hill Rd", "Bedford Ave", "Sunset Blvd", "Broadway",
    "Highland Ave", "Jefferson St", "Lincoln Ave", "Madison Ave", "Church St", "River Rd",
    "Spring St", "Willow Way", "Chestnut St", "Franklin Blvd", "Grand Ave", "Mill Rd",
    "Market St", "College Ave", "Union St", "Valley View Dr", "Harbor Blvd",
)  # fmt: skip
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")
MARKETPLACES = (("amazon", 60), ("walmart", 25), ("ebay", 15))
