"""The product catalogue and how it changes day by day.

Day 0 lists most products; each later day lists price changes for about 5% of the products
already known and introduces a few new ones. Popularity is a Zipf-like weight over a random
ranking, so the best sellers are not simply the lowest ids.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PRICE_CHANGE_SHARE = 0.05
NEW_PRODUCTS_SHARE_PER_DAY = 0.01
POPULARITY_EXPONENT = 1.0
POPULARITY_OFFSET = 2.0


@dataclass(frozen=True)
class Category:
    """A category with its own price range (in currency units) and product nouns."""

    name: str
    low: float
    high: float
    nouns: tuple[str, ...]


CATEGORIES: tuple[Category, ...] = (
    Category("Electronics", 50, 2000, ("Headphones", "Smartwatch", "Tablet", "Speaker", "Monitor")),
    Category("Books", 5, 60, ("Novel", "Cookbook", "Travel Guide", "Biography", "Atlas")),
    Category("Grocery", 1, 50, ("Olive Oil", "Coffee Beans", "Pasta", "Green Tea", "Honey")),
    Category("Clothing", 10, 250, ("T-Shirt", "Jeans", "Rain Jacket", "Sneakers", "Wool Scarf")),
    Category("Home & Kitchen", 8, 600, ("Desk Lamp", "Frying Pan", "Knife Set", "Duvet", "Kettle")),
    Category("Toys", 5, 150, ("Puzzle", "Building Blocks", "Plush Bear", "Board Game", "RC Car")),
    Category("Beauty", 3, 120, ("Face Cream", "Shampoo", "Lipstick", "Perfume", "Nail Polish")),
    Category("Sports", 10, 900, ("Yoga Mat", "Running Shoes", "Tennis Racket", "Bike Helmet")),
)
_BRANDS = ("Nordic", "Acme", "Café Lux", "Orbit", "Vela", "Kito", "Brightway", "Zephyr")
_MODELS = ("Aurora", "Pro", "Mini", "Classic", "Eco", "Max", "Lite", "Ultra")


@dataclass(frozen=True)
class ProductRow:
    """One valid row of a products file, already in its written form."""

    product_id: str
    product_name: str | None
    category: str
    price: str
    stock_level: int | None


def price_text(mills: int, *, bare_units: bool) -> str:
    """A price in thousandths as text: 2 decimals, 3 when the thousandth is set ("19.995")."""
    units, rest = divmod(mills, 1000)
    if rest % 10:
        return f"{units}.{rest:03d}"
    if rest == 0 and bare_units:
        return str(units)
    return f"{units}.{rest // 10:02d}"


class Catalogue:
    """All products of a dataset, when each appears, and each day's products file rows."""

    def __init__(self, rng: np.random.Generator, products: int, days: int) -> None:
        self.size = products
        self.id_width = max(6, len(str(products)))
        self._rng = rng
        self.introduced = self._introduction_days(products, days)
        self.category = rng.integers(0, len(CATEGORIES), products)
        self.name = [self._name(i) for i in range(products)]
        self.stock = rng.integers(0, 500, products)
        self.mills = np.array([self._price(int(c)) for c in self.category], dtype=np.int64)
        rank = rng.permutation(products)
        self.popularity = (rank + POPULARITY_OFFSET) ** -POPULARITY_EXPONENT

    @staticmethod
    def _introduction_days(products: int, days: int) -> np.ndarray:
        """Day index each product is introduced on: most on day 0, the rest spread evenly."""
        per_day = max(1, round(products * NEW_PRODUCTS_SHARE_PER_DAY))
        later = min(per_day * (days - 1), products // 2)
        introduced = np.zeros(products, dtype=np.int64)
        if later:
            introduced[products - later :] = 1 + np.arange(later) * (days - 1) // later
        return introduced

    def product_id(self, index: int) -> str:
        return f"P{index + 1:0{self.id_width}d}"

    def _name(self, index: int) -> str | None:
        rng = self._rng
        if rng.random() < 0.02:
            return None
        category = CATEGORIES[int(self.category[index])]
        noun = category.nouns[int(rng.integers(len(category.nouns)))]
        brand = _BRANDS[int(rng.integers(len(_BRANDS)))]
        model = _MODELS[int(rng.integers(len(_MODELS)))]
        if rng.random() < 0.05:  # quotes and a comma: exercises CSV quoting
            return f'{brand} {noun} "{model}", {int(rng.integers(20, 90))} cm'
        return f"{brand} {noun} {model} {int(rng.integers(1, 100))}"

    def _price(self, category: int, around: float | None = None) -> int:
        """A plausible price in thousandths: mostly .99 endings, a few with 3 decimals."""
        rng = self._rng
        low, high = CATEGORIES[category].low, CATEGORIES[category].high
        if around is None:
            value = float(np.exp(rng.uniform(np.log(low), np.log(high))))
        else:
            value = around * float(rng.uniform(0.8, 1.2))
        cents = max(1, round(value * 100))
        style = rng.random()
        if style < 0.5:
            cents = max(99, cents // 100 * 100 + 99)
        elif style < 0.55:
            cents = max(100, cents // 100 * 100)
        mills = cents * 10
        if rng.random() < 0.04:
            mills += 5  # half a cent: curated price rounds half-up
        return mills

    def _row(self, index: int) -> ProductRow:
        stock = None if self._rng.random() < 0.02 else int(self.stock[index])
        return ProductRow(
            product_id=self.product_id(index),
            product_name=self.name[index],
            category=CATEGORIES[int(self.category[index])].name,
            price=price_text(int(self.mills[index]), bare_units=self._rng.random() < 0.5),
            stock_level=stock,
        )

    def day_rows(self, day: int) -> list[ProductRow]:
        """The valid rows of day `day`'s products file, in product id order.

        Updates the catalogue's current prices, so call it once per day, in day order.
        """
        new = np.flatnonzero(self.introduced == day)
        if day == 0:
            return [self._row(int(i)) for i in new]
        known = np.flatnonzero(self.introduced < day)
        count = min(len(known), max(1, round(len(known) * PRICE_CHANGE_SHARE)))
        changed = self._rng.choice(known, size=count, replace=False)
        for i in changed:
            old = self.mills[i] / 1000
            self.mills[i] = self._price(int(self.category[i]), around=old)
            self.stock[i] = max(0, int(self.stock[i]) + int(self._rng.integers(-40, 60)))
        return [self._row(int(i)) for i in np.sort(np.concatenate([changed, new]))]

    def stale_price(self, row: ProductRow) -> str:
        """A different, stale price for `row`: what an earlier row of the same file said."""
        units, _, decimals = row.price.partition(".")
        mills = int(units) * 1000 + int((decimals or "0").ljust(3, "0")[:3])
        stale = max(10, round(mills * float(self._rng.uniform(0.85, 0.97)) / 10) * 10)
        if stale == mills:
            stale += 100
        return price_text(stale, bare_units=False)

    def eligible(self, day: int) -> np.ndarray:
        """Indexes of the products an event on file-day `day` may reference."""
        return np.flatnonzero(self.introduced <= day)
