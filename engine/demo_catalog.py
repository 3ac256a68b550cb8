"""The demo product catalog: Indian brand-style SKUs in the 12 categories, with the
category-typical demand behaviour the demo generator plants (elasticity range, weekend
uplift, temperature and rain response, yearly cycle, shelf life, case packs).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.categories import CATEGORIES
from engine.demo_weather import stable_rng


# category -> behaviour. elasticity (lo, hi); base units/day per store (lo, hi);
# weekend uplift; temp: slope of log demand per degree C at the sigmoid midpoint t0;
# rain: log demand per 10 mm; amp/peak: yearly cosine amplitude (log) and peak day of year;
# shelf (days) when the item gives none; lead (days); case packs; share of catalog weight.
PROFILE: dict[str, dict] = {
    "Cold Beverages": dict(code="CB", el=(-2.0, -1.1), base=(2.5, 10), wk=0.28, temp=0.075,
                           t0=27.0, w=4.0, rain=-0.05, amp=0.10, peak=130, shelf=180,
                           lead=(3, 7), packs=(12, 24), weight=1.3, vol=None),
    "Ice Cream": dict(code="IC", el=(-1.8, -1.0), base=(1.0, 5), wk=0.40, temp=0.09,
                      t0=27.0, w=4.0, rain=-0.06, amp=0.10, peak=130, shelf=180,
                      lead=(2, 5), packs=(6, 12, 24), weight=1.0, vol=None),
    "Tea & Coffee": dict(code="TC", el=(-1.0, -0.5), base=(1.0, 5), wk=0.10, temp=-0.045,
                         t0=22.0, w=5.0, rain=0.05, amp=0.06, peak=15, shelf=365,
                         lead=(5, 10), packs=(12, 24, 48), weight=1.0, vol=0.3),
    "Sweets": dict(code="SW", el=(-1.5, -0.8), base=(0.8, 4), wk=0.30, temp=0.0, t0=25.0,
                   w=4.0, rain=-0.03, amp=0.05, peak=300, shelf=30, lead=(2, 5),
                   packs=(6, 12), weight=1.1, vol=0.6),
    "Dairy": dict(code="DA", el=(-0.7, -0.3), base=(6, 22), wk=0.15, temp=0.0, t0=25.0,
                  w=4.0, rain=-0.02, amp=0.05, peak=140, shelf=7, lead=(2, 3),
                  packs=(6, 12, 24), weight=1.2, vol=None),
    "Staples": dict(code="ST", el=(-0.8, -0.3), base=(2.5, 9), wk=0.20, temp=0.0, t0=25.0,
                    w=4.0, rain=-0.02, amp=0.04, peak=90, shelf=270, lead=(5, 14),
                    packs=(6, 10, 20), weight=1.3, vol=None),
    "Edible Oil": dict(code="OI", el=(-1.2, -0.6), base=(1.0, 4), wk=0.20, temp=0.0, t0=25.0,
                       w=4.0, rain=-0.02, amp=0.04, peak=290, shelf=270, lead=(5, 12),
                       packs=(6, 12, 16), weight=0.9, vol=None),
    "Fresh Vegetables": dict(code="VG", el=(-0.9, -0.4), base=(5, 18), wk=0.18, temp=0.0,
                             t0=25.0, w=4.0, rain=-0.06, amp=0.06, peak=20, shelf=7,
                             lead=(2, 3), packs=(1, 5, 10), weight=0.9, vol=None),
    "Snacks": dict(code="SN", el=(-2.3, -1.3), base=(2.5, 9), wk=0.30, temp=0.0, t0=25.0,
                   w=4.0, rain=0.04, amp=0.07, peak=220, shelf=120, lead=(3, 8),
                   packs=(24, 48), weight=1.3, vol=0.4),
    "Personal Care": dict(code="PC", el=(-1.6, -0.9), base=(0.6, 3), wk=0.12, temp=0.0,
                          t0=25.0, w=4.0, rain=-0.02, amp=0.08, peak=130, shelf=900,
                          lead=(7, 14), packs=(12, 24, 48), weight=1.0, vol=0.2),
    "Festive Gifts": dict(code="FG", el=(-2.5, -1.2), base=(0.2, 1.0), wk=0.25, temp=0.0,
                          t0=25.0, w=4.0, rain=-0.03, amp=0.35, peak=300, shelf=240,
                          lead=(7, 14), packs=(6, 12), weight=0.6, vol=1.5),
    "Holi Colours": dict(code="HC", el=(-1.5, -0.8), base=(0.05, 0.25), wk=0.20, temp=0.0,
                         t0=25.0, w=4.0, rain=-0.03, amp=1.2, peak=70, shelf=720,
                         lead=(7, 14), packs=(24, 48), weight=0.4, vol=0.15),
}

# category -> [(brand, supplier, product, subcategory, [(size, mrp), ...], shelf, states)]
# shelf None = category default; states None = sold nationally, else a regional product.
_CB, _PA, _HUL, _ITC, _AMUL = ("Hindustan Coca-Cola Beverages", "Parle Agro",
                               "Hindustan Unilever", "ITC Ltd", "GCMMF (Amul)")
ITEMS: dict[str, list[tuple]] = {
    "Cold Beverages": [
        ("Thums Up", _CB, "Thums Up", "Carbonated", [("250 ml", 20), ("750 ml", 40), ("2 L", 95)], None, None),
        ("Limca", _CB, "Limca", "Carbonated", [("250 ml", 20), ("750 ml", 40)], None, None),
        ("Sprite", _CB, "Sprite", "Carbonated", [("250 ml", 20), ("750 ml", 40), ("2 L", 95)], None, None),
        ("Campa", "Reliance Consumer Products", "Campa Cola", "Carbonated", [("500 ml", 20), ("2 L", 49)], None, None),
        ("Maaza", _CB, "Maaza Mango Drink", "Juice", [("250 ml", 20), ("600 ml", 40), ("1.2 L", 70)], None, None),
        ("Frooti", _PA, "Frooti Mango Drink", "Juice", [("160 ml", 10), ("600 ml", 38)], None, None),
        ("Appy Fizz", _PA, "Appy Fizz", "Juice", [("250 ml", 30)], None, None),
        ("Paper Boat", "Hector Beverages", "Aamras", "Juice", [("250 ml", 30)], None, None),
        ("Paper Boat", "Hector Beverages", "Jaljeera", "Juice", [("250 ml", 30)], None, None),
        ("Bisleri", "Bisleri International", "Packaged Drinking Water", "Water", [("1 L", 20), ("2 L", 32), ("5 L", 70)], None, None),
        ("Sting", "Varun Beverages", "Sting Energy Drink", "Energy", [("250 ml", 20)], None, None),
        ("Bovonto", "Kali Aerated Water Works", "Bovonto Grape Soda", "Carbonated", [("250 ml", 20)], None, ("Tamil Nadu",)),
        ("Sosyo", "Hajoori & Sons", "Sosyo", "Carbonated", [("250 ml", 20)], None, ("Gujarat",)),
        ("Amul", _AMUL, "Kool Cafe", "Flavoured Milk", [("200 ml", 30)], 150, None),
    ],
    "Ice Cream": [
        ("Amul", _AMUL, "Vanilla Magic", "Tub", [("1 L", 199), ("500 ml", 110)], None, None),
        ("Amul", _AMUL, "Kesar Pista Kulfi", "Kulfi", [("60 ml", 25)], None, None),
        ("Kwality Wall's", _HUL, "Cornetto Double Chocolate", "Cone", [("105 ml", 50)], None, None),
        ("Kwality Wall's", _HUL, "Feast Chocolate", "Stick", [("90 ml", 40)], None, None),
        ("Mother Dairy", "Mother Dairy", "Butterscotch Cup", "Cup", [("100 ml", 30)], None, None),
        ("Vadilal", "Vadilal Industries", "Rajbhog", "Tub", [("700 ml", 180)], None, None),
        ("Havmor", "Havmor Ice Cream", "Tricone", "Cone", [("120 ml", 45)], None, ("Gujarat", "Maharashtra", "Rajasthan")),
        ("Naturals", "Kamaths Ourtimes", "Tender Coconut", "Tub", [("500 ml", 350)], None, ("Maharashtra", "Karnataka")),
        ("Arun", "Hatsun Agro", "Mango Duet", "Cup", [("100 ml", 30)], None, ("Tamil Nadu", "Kerala", "Karnataka")),
        ("Baskin Robbins", "Graviss Foods", "Mississippi Mud", "Tub", [("500 ml", 300)], None, None),
        ("Creambell", "Devyani Food Industries", "Choco Bar", "Stick", [("60 ml", 20)], None, None),
    ],
    "Tea & Coffee": [
        ("Tata Tea", "Tata Consumer Products", "Premium", "Tea", [("250 g", 150), ("500 g", 290), ("1 kg", 560)], None, None),
        ("Red Label", _HUL, "Red Label", "Tea", [("250 g", 140), ("500 g", 275)], None, None),
        ("Taj Mahal", _HUL, "Taj Mahal", "Tea", [("250 g", 190)], None, None),
        ("Wagh Bakri", "Wagh Bakri Tea Group", "Premium Leaf", "Tea", [("250 g", 145), ("500 g", 280)], None, ("Gujarat", "Rajasthan", "Maharashtra")),
        ("Society", "Hasmukhrai & Co", "Masala Tea", "Tea", [("250 g", 160)], None, ("Maharashtra", "Gujarat")),
        ("Nescafe", "Nestle India", "Classic", "Coffee", [("50 g", 190), ("100 g", 360)], None, None),
        ("Bru", _HUL, "Instant", "Coffee", [("50 g", 150), ("100 g", 290)], None, None),
        ("Narasu's", "Narasus Coffee Company", "Filter Coffee", "Coffee", [("500 g", 320)], None, ("Tamil Nadu", "Karnataka", "Kerala")),
        ("Girnar", "Girnar Food & Beverages", "Masala Chai", "Tea", [("100 g", 90)], None, None),
    ],
    "Sweets": [
        ("Haldiram's", "Haldiram Snacks", "Soan Papdi", "Packaged Mithai", [("250 g", 90), ("500 g", 170)], 120, None),
        ("Haldiram's", "Haldiram Snacks", "Rasgulla Tin", "Packaged Mithai", [("1 kg", 240)], 270, None),
        ("Haldiram's", "Haldiram Snacks", "Gulab Jamun Tin", "Packaged Mithai", [("1 kg", 250)], 270, None),
        ("Bikanervala", "Bikanervala Foods", "Kaju Katli", "Fresh Mithai", [("250 g", 280), ("500 g", 550)], 15, None),
        ("Bikanervala", "Bikanervala Foods", "Motichoor Laddoo", "Fresh Mithai", [("500 g", 260)], 10, None),
        ("Agarwal", "Local Halwai Supply", "Besan Laddoo", "Fresh Mithai", [("500 g", 240)], 15, None),
        ("K.C. Das", "K.C. Das Pvt Ltd", "Rosogolla", "Fresh Mithai", [("500 g", 180)], 7, ("West Bengal", "Bihar")),
        ("Sri Krishna", "Sri Krishna Sweets", "Mysore Pak", "Fresh Mithai", [("250 g", 220)], 20, ("Tamil Nadu", "Karnataka", "Telangana")),
        ("Chitale", "Chitale Bandhu", "Bakarwadi Peda", "Fresh Mithai", [("250 g", 160)], 10, ("Maharashtra",)),
        ("Amul", _AMUL, "Milk Peda", "Packaged Mithai", [("250 g", 120)], 30, None),
        ("Ghasitaram", "Ghasitaram Gifts", "Karachi Halwa", "Fresh Mithai", [("400 g", 200)], 30, ("Maharashtra", "Gujarat")),
    ],
    "Dairy": [
        ("Amul", _AMUL, "Taaza Toned Milk", "Milk", [("500 ml", 27), ("1 L", 54)], 2, None),
        ("Amul", _AMUL, "Gold Full Cream Milk", "Milk", [("500 ml", 33)], 2, None),
        ("Mother Dairy", "Mother Dairy", "Toned Milk", "Milk", [("500 ml", 28)], 2, ("Delhi", "Uttar Pradesh", "Rajasthan", "Maharashtra")),
        ("Nandini", "Karnataka Milk Federation", "Toned Milk", "Milk", [("500 ml", 22)], 2, ("Karnataka",)),
        ("Aavin", "Tamil Nadu Co-op Milk", "Standardised Milk", "Milk", [("500 ml", 22)], 2, ("Tamil Nadu",)),
        ("Milma", "Kerala Co-op Milk", "Toned Milk", "Milk", [("500 ml", 26)], 2, ("Kerala",)),
        ("Sudha", "COMFED", "Toned Milk", "Milk", [("500 ml", 25)], 2, ("Bihar",)),
        ("Amul", _AMUL, "Masti Dahi", "Curd", [("400 g", 35), ("1 kg", 75)], 10, None),
        ("Amul", _AMUL, "Butter", "Butter", [("100 g", 58), ("500 g", 275)], 180, None),
        ("Amul", _AMUL, "Malai Paneer", "Paneer", [("200 g", 90)], 10, None),
        ("Mother Dairy", "Mother Dairy", "Classic Curd", "Curd", [("400 g", 40)], 10, None),
        ("Gowardhan", "Parag Milk Foods", "Pure Cow Ghee", "Ghee", [("500 ml", 330), ("1 L", 650)], 270, None),
        ("Amul", _AMUL, "Masti Buttermilk", "Buttermilk", [("200 ml", 15)], 7, None),
        ("Epigamia", "Drums Food", "Greek Yogurt", "Curd", [("90 g", 50)], 21, None),
    ],
    "Staples": [
        ("Aashirvaad", _ITC, "Shudh Chakki Atta", "Atta", [("5 kg", 280), ("10 kg", 540)], None, None),
        ("Pillsbury", "Bunge India", "Chakki Fresh Atta", "Atta", [("5 kg", 265)], None, None),
        ("India Gate", "KRBL Ltd", "Basmati Rice Classic", "Rice", [("1 kg", 210), ("5 kg", 950)], None, None),
        ("Daawat", "LT Foods", "Rozana Basmati", "Rice", [("1 kg", 110), ("5 kg", 520)], None, None),
        ("Fortune", "Adani Wilmar", "Sona Masoori Rice", "Rice", [("5 kg", 420)], None, ("Karnataka", "Telangana", "Tamil Nadu", "Kerala")),
        ("Tata Sampann", "Tata Consumer Products", "Toor Dal", "Pulses", [("1 kg", 180)], None, None),
        ("Tata Sampann", "Tata Consumer Products", "Masoor Dal", "Pulses", [("1 kg", 135)], None, None),
        ("Tata Sampann", "Tata Consumer Products", "Chana Dal", "Pulses", [("1 kg", 110)], None, None),
        ("Tata Salt", "Tata Consumer Products", "Iodised Salt", "Salt & Sugar", [("1 kg", 28)], 720, None),
        ("Madhur", "Shree Renuka Sugars", "Refined Sugar", "Salt & Sugar", [("1 kg", 55), ("5 kg", 260)], 720, None),
        ("MDH", "MDH Spices", "Deggi Mirch", "Spices", [("100 g", 90)], 365, None),
        ("Everest", "Everest Food Products", "Turmeric Powder", "Spices", [("200 g", 80)], 365, None),
        ("Aachi", "Aachi Masala Foods", "Sambar Powder", "Spices", [("200 g", 85)], 365, ("Tamil Nadu", "Kerala", "Karnataka")),
        ("Double Horse", "Manjilas Food Tech", "Matta Rice", "Rice", [("5 kg", 330)], None, ("Kerala",)),
    ],
    "Edible Oil": [
        ("Fortune", "Adani Wilmar", "Soyabean Oil", "Refined Oil", [("1 L", 150), ("5 L", 720)], None, None),
        ("Fortune", "Adani Wilmar", "Kachi Ghani Mustard Oil", "Mustard Oil", [("1 L", 175), ("5 L", 850)], None, ("Delhi", "Uttar Pradesh", "Bihar", "West Bengal", "Rajasthan")),
        ("Saffola", "Marico", "Gold Blended Oil", "Refined Oil", [("1 L", 210), ("5 L", 1020)], None, None),
        ("Dhara", "Mother Dairy", "Mustard Oil", "Mustard Oil", [("1 L", 170)], None, ("Delhi", "Uttar Pradesh", "Bihar")),
        ("Gemini", "Cargill India", "Sunflower Oil", "Refined Oil", [("1 L", 155)], None, ("Telangana", "Maharashtra", "Karnataka")),
        ("Parachute", "Marico", "Coconut Oil (Edible)", "Coconut Oil", [("500 ml", 140)], None, ("Kerala", "Tamil Nadu", "Karnataka")),
        ("Idhayam", "V.V.V. & Sons", "Gingelly Oil", "Sesame Oil", [("1 L", 390)], None, ("Tamil Nadu",)),
        ("Engine", "Kedia Group", "Mustard Oil", "Mustard Oil", [("1 L", 168)], None, ("West Bengal", "Bihar")),
        ("Sundrop", "Agro Tech Foods", "Heart Sunflower Oil", "Refined Oil", [("1 L", 180)], None, None),
    ],
    "Fresh Vegetables": [
        ("FreshPick", "Local Mandi Aggregator", "Onion", "Bulb", [("1 kg", 40), ("2 kg", 78)], 20, None),
        ("FreshPick", "Local Mandi Aggregator", "Tomato Hybrid", "Fruit Veg", [("1 kg", 36), ("500 g", 19)], 7, None),
        ("FreshPick", "Local Mandi Aggregator", "Potato", "Tuber", [("1 kg", 32), ("2 kg", 62)], 25, None),
        ("FreshPick", "Local Mandi Aggregator", "Green Chilli", "Leafy & Herbs", [("100 g", 12)], 6, None),
        ("FreshPick", "Local Mandi Aggregator", "Cauliflower", "Cruciferous", [("1 pc", 40)], 5, None),
        ("FreshPick", "Local Mandi Aggregator", "Coriander Bunch", "Leafy & Herbs", [("100 g", 15)], 3, None),
        ("FreshPick", "Local Mandi Aggregator", "Lady Finger (Bhindi)", "Fruit Veg", [("500 g", 30)], 5, None),
        ("FreshPick", "Local Mandi Aggregator", "Ginger", "Root", [("250 g", 35)], 21, None),
        ("FarmFresh", "Krishi Producer Co.", "Drumstick", "Fruit Veg", [("250 g", 30)], 6, ("Tamil Nadu", "Kerala", "Karnataka")),
        ("FarmFresh", "Krishi Producer Co.", "Bottle Gourd (Lauki)", "Fruit Veg", [("1 pc", 35)], 7, None),
    ],
    "Snacks": [
        ("Haldiram's", "Haldiram Snacks", "Aloo Bhujia", "Namkeen", [("200 g", 55), ("400 g", 105), ("1 kg", 240)], None, None),
        ("Haldiram's", "Haldiram Snacks", "Moong Dal", "Namkeen", [("200 g", 55)], None, None),
        ("Bikaji", "Bikaji Foods", "Bikaneri Bhujia", "Namkeen", [("400 g", 110)], None, None),
        ("Lay's", "PepsiCo India", "Magic Masala Chips", "Chips", [("52 g", 20), ("90 g", 40)], None, None),
        ("Kurkure", "PepsiCo India", "Masala Munch", "Extruded", [("75 g", 20), ("150 g", 40)], None, None),
        ("Bingo", _ITC, "Mad Angles", "Extruded", [("66 g", 20)], None, None),
        ("Parle", "Parle Products", "Parle-G", "Biscuits", [("250 g", 25), ("800 g", 80)], None, None),
        ("Britannia", "Britannia Industries", "Good Day Cashew", "Biscuits", [("200 g", 40)], None, None),
        ("Sunfeast", _ITC, "Dark Fantasy", "Biscuits", [("75 g", 40)], None, None),
        ("Maggi", "Nestle India", "2-Minute Masala Noodles", "Instant Food", [("70 g", 14), ("280 g", 56)], None, None),
        ("Balaji", "Balaji Wafers", "Simply Salted Wafers", "Chips", [("45 g", 10)], None, ("Gujarat", "Maharashtra", "Rajasthan")),
        ("Grand Sweets", "Grand Sweets & Snacks", "Murukku", "Namkeen", [("200 g", 70)], None, ("Tamil Nadu",)),
        ("Kerala Banana", "Kalliyath Foods", "Banana Chips", "Chips", [("200 g", 80)], None, ("Kerala", "Tamil Nadu", "Karnataka")),
    ],
    "Personal Care": [
        ("Lifebuoy", _HUL, "Total 10 Soap", "Soap", [("4 x 100 g", 140)], None, None),
        ("Lux", _HUL, "Soft Rose Soap", "Soap", [("3 x 100 g", 125)], None, None),
        ("Santoor", "Wipro Consumer Care", "Sandal Soap", "Soap", [("4 x 100 g", 160)], None, None),
        ("Clinic Plus", _HUL, "Strength Shampoo", "Hair Care", [("175 ml", 120), ("340 ml", 230)], None, None),
        ("Parachute", "Marico", "Coconut Hair Oil", "Hair Care", [("200 ml", 110)], None, None),
        ("Colgate", "Colgate-Palmolive India", "Strong Teeth", "Oral Care", [("200 g", 115)], None, None),
        ("Dabur", "Dabur India", "Red Paste", "Oral Care", [("200 g", 125)], None, None),
        ("Nivea", "Nivea India", "Soft Cream", "Skin Care", [("100 ml", 199)], None, None),
        ("Lakme", _HUL, "Sun Expert SPF 50", "Skin Care", [("50 ml", 299)], None, None),
        ("Dettol", "Reckitt Benckiser", "Handwash Refill", "Hygiene", [("750 ml", 99)], None, None),
        ("Boroplus", "Emami", "Antiseptic Cream", "Skin Care", [("80 ml", 105)], None, None),
        ("Navratna", "Emami", "Cool Oil", "Hair Care", [("200 ml", 140)], None, None),
    ],
    "Festive Gifts": [
        ("Cadbury", "Mondelez India", "Celebrations Gift Pack", "Chocolate Gifts", [("186 g", 199), ("300 g", 350)], 270, None),
        ("Ferrero Rocher", "Ferrero India", "T16 Gift Box", "Chocolate Gifts", [("200 g", 599)], 270, None),
        ("Haldiram's", "Haldiram Snacks", "Dry Fruit Gift Box", "Dry Fruit Gifts", [("500 g", 799)], 240, None),
        ("Happilo", "Happilo International", "Premium Dry Fruit Hamper", "Dry Fruit Gifts", [("400 g", 699)], 240, None),
        ("Bikano", "Bikanervala Foods", "Namkeen Gift Hamper", "Snack Hampers", [("1 kg", 450)], 180, None),
        ("Amul", _AMUL, "Dark Chocolate Gift Box", "Chocolate Gifts", [("250 g", 300)], 270, None),
        ("Diya Decor", "Kumbhar Crafts", "Clay Diya Set", "Puja & Decor", [("12 pc", 149)], 1000, None),
        ("Ganesh Puja", "Puja Samagri Co.", "Puja Thali Set", "Puja & Decor", [("1 set", 349)], 1000, None),
    ],
    "Holi Colours": [
        ("Herbal Gulal", "Rang Utsav Traders", "Herbal Gulal Pack", "Gulal", [("100 g", 60), ("5 x 100 g", 250)], None, None),
        ("Rang De", "Rang Utsav Traders", "Organic Colour Kit", "Gulal", [("4 colours", 199)], None, None),
        ("Pichkari Co.", "Toyland Distributors", "Water Pichkari", "Pichkari", [("1 pc", 149), ("Tank", 299)], None, None),
        ("Holi Fun", "Toyland Distributors", "Water Balloons", "Accessories", [("100 pc", 50)], None, None),
        ("Rang Utsav", "Rang Utsav Traders", "Colour Smoke Cracker", "Accessories", [("2 pc", 120)], None, None),
    ],
}

VARIANT_SUFFIXES = ("", " Value Pack", " Combo Pack", " Family Pack", " Festive Pack", " Twin Pack")


def _volume_l(size: str, default: float | None) -> float:
    """Rough unit volume in litres from the pack size ('750 ml' -> 0.75, '5 kg' -> ~5)."""
    text = size.lower().replace(" x ", "x")
    mult = 1.0
    if "x" in text.split()[0]:
        mult, text = float(text.split("x")[0]), text.split("x", 1)[1].strip()
    parts = text.split()
    try:
        qty = float(parts[0])
    except ValueError:
        return default or 0.5
    unit = parts[1] if len(parts) > 1 else ""
    per = {"ml": 0.001, "l": 1.0, "g": 0.0012, "kg": 1.2}.get(unit)
    return round(mult * qty * per, 3) if per else (default or 0.5)


def candidate_items() -> pd.DataFrame:
    """Every brand x product x pack size the catalog can draw from, in a fixed order."""
    rows = []
    for cat in CATEGORIES:
        prof = PROFILE[cat]
        for brand, supplier, product, sub, sizes, shelf, states in ITEMS[cat]:
            for size, mrp in sizes:
                rows.append({"category": cat, "brand": brand, "supplier": supplier,
                             "product": product, "subcategory": sub, "size": size,
                             "mrp": float(mrp), "shelf_life_days": int(shelf or prof["shelf"]),
                             "unit_volume_l": _volume_l(size, prof["vol"]),
                             "home_states": states})
    return pd.DataFrame(rows)


def build_catalog(n_skus: int, seed: int) -> pd.DataFrame:
    """`n_skus` SKUs spread over every category in proportion to its weight (at least 2
    each). When a category needs more SKUs than it has items, pack variants are added."""
    cands = candidate_items()
    weights = np.array([PROFILE[c]["weight"] for c in CATEGORIES])
    quota = np.maximum(2, np.floor(n_skus * weights / weights.sum())).astype(int)
    order = np.argsort(-weights, kind="stable")
    i = 0
    while quota.sum() < n_skus:
        quota[order[i % len(order)]] += 1
        i += 1
    while quota.sum() > n_skus and quota.max() > 2:
        quota[np.argmax(quota)] -= 1
    rows = []
    for cat, k in zip(CATEGORIES, quota):
        pool = cands[cands["category"] == cat].reset_index(drop=True)
        rng = stable_rng(seed, "catalog", cat)
        picked = rng.permutation(len(pool))
        for j in range(k):
            item = pool.iloc[picked[j % len(pool)]].to_dict()
            variant = j // len(pool)
            suffix = VARIANT_SUFFIXES[variant % len(VARIANT_SUFFIXES)]
            if variant:
                bump = 1 + 0.9 * variant
                item["mrp"] = round(item["mrp"] * bump)
                item["unit_volume_l"] = round(item["unit_volume_l"] * bump, 3)
                suffix = suffix or f" Pack {variant + 1}"
            item["name"] = f"{item['brand']} {item['product']} {item['size']}{suffix}".replace(
                f"{item['brand']} {item['brand']}", item["brand"])
            item["sku_id"] = f"{PROFILE[cat]['code']}-{j + 1:04d}"
            rows.append(item)
    cat_df = pd.DataFrame(rows)
    rng = stable_rng(seed, "unit-cost")
    cat_df["unit_cost"] = np.round(cat_df["mrp"] * rng.uniform(0.55, 0.85, len(cat_df)), 2)
    return cat_df.reset_index(drop=True)
