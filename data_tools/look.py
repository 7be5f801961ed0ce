"""The synthetic images' shop-photo look, in parts that can each be left out.

Kept apart from data_tools/synth.py (OpenCV, NumPy) so that run.py lists the parts
without importing them.
"""
import dataclasses

from data_tools.errors import DataError


@dataclasses.dataclass(frozen=True)
class Look:
    """What makes the images look like shop photos; each part can be left out (`run.py
    synth --without PART`) to measure what it adds to training on real photos.

    shots:   product shots (hangers, dress forms, flat), half the images; else 80% worn
    palette: garment colours and fabrics as shops sell them (dark, white, muted; knits);
             else any colour, a third in stripes, checks or flowers
    scenes:  backgrounds of blurred rooms and streets behind the worn garments; else
             coloured shapes on noise
    finish:  the camera: contrast, colour cast, blur, noise, JPEG quality 65-95; else none
             and quality 90
    text:    shop marks: watermarks, names, web addresses, price tags
    """
    shots: bool = True
    palette: bool = True
    scenes: bool = True
    finish: bool = True
    text: bool = True

    @classmethod
    def without(cls, parts=()):
        unknown = [p for p in parts if p not in LOOK_PARTS]
        if unknown:
            raise DataError(f"unknown look part(s) {', '.join(unknown)}; the parts are "
                            f"{', '.join(LOOK_PARTS)}")
        return cls(**{part: False for part in parts})

    def left_out(self):
        return [f.name for f in dataclasses.fields(self) if not getattr(self, f.name)]


LOOK_PARTS = tuple(f.name for f in dataclasses.fields(Look))
